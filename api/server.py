"""`citysense api`: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app


def main(host: str, port: int) -> int:
    # Live-feed clients (SSE, WebSocket) hold connections open for ever; without a bound
    # a SIGTERM or Ctrl-C would wait for every browser tab to go away.
    uvicorn.run(create_app(), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
    return 0
