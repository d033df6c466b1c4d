"""`citysense api`: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app


def main(host: str, port: int) -> int:
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
    return 0
