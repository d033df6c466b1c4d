"""A Server-Sent Events response that a client which stops reading cannot pin.

Starlette's StreamingResponse waits for as long as the client's socket is full: a client that
never reads would hold its connection, its task and whatever its iterator holds for ever. Here
each write has `stall_s` to go through; after that the connection is dropped (the ASGI server
closes the socket) and the client's resources are freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("citysense.api.live")

# What uvicorn logs when an ASGI app ends a response without its last body message, which is
# exactly how a stalled stream is dropped; `StalledStreamFilter` keeps it out of the error log.
UVICORN_INCOMPLETE = "ASGI callable returned without completing response."


class StalledStreamFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != UVICORN_INCOMPLETE


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self, chunks: AsyncIterator[bytes], stall_s: float, headers: Mapping[str, str] | None = None,
        on_close: Callable[[bool], None] | None = None,
    ) -> None:
        # As StreamingResponse does: no body attribute, so no Content-Length header.
        self.status_code = 200
        self.background = None
        self.init_headers(dict(headers or {}))
        self.chunks = chunks
        self.stall_s = stall_s
        self.on_close = on_close  # called once the stream is over, with whether it stalled
        self.stalled = False

    async def _pump(self, send: Send) -> None:
        async for data in self.chunks:
            try:
                async with asyncio.timeout(self.stall_s):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except TimeoutError:
                self.stalled = True
                return
        async with asyncio.timeout(self.stall_s):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        pump = asyncio.create_task(self._pump(send))
        watch = asyncio.create_task(self._until_disconnect(receive))
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if pump.done() and not pump.cancelled() and pump.exception() is not None:
                exc = pump.exception()
                if not isinstance(exc, TimeoutError):
                    raise exc  # type: ignore[misc]
                self.stalled = True
        finally:
            for t in (pump, watch):
                t.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            try:
                aclose = getattr(self.chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                if self.on_close is not None:
                    self.on_close(self.stalled)
        if self.stalled:
            log.info("dropped a live client that read nothing for %g s", self.stall_s)
