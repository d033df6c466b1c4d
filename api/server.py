"""`citysense api`: serve the API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from api.app import create_app
from api.live.sse import StalledStreamFilter
from citysense import logs
from citysense.settings import load_settings


def main(host: str, port: int) -> int:
    settings = load_settings()
    # uvicorn's loggers (access log included) go through the root handler: one format for every line.
    logs.configure(settings.log_format, settings.log_level)
    # Live-feed clients (SSE, WebSocket) hold connections open for ever; without a bound
    # a SIGTERM or Ctrl-C would wait for every browser tab to go away.
    # A stalled live stream is dropped by ending it without its last message; uvicorn would log
    # that as an error each time.
    logging.getLogger("uvicorn.error").addFilter(StalledStreamFilter())
    # ws_max_size: the live feed ignores what clients send, so a client cannot make us buffer 16 MiB
    # (uvicorn's default) per connection.
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=3,
                ws_max_size=64 * 1024, backlog=4096)
    return 0
