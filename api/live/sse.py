"""A Server-Sent Events response that a client which stops reading cannot pin.

Starlette's StreamingResponse waits for as long as the client's socket is full: a client that
never reads would hold its connection, its task and whatever its iterator holds for ever. Here
each write has `stall_s` to go through; after that the connection is aborted and the client's
resources are freed. The same happens when the stream ends while the client still has not taken
what was written (the hub gave up on it).

ASGI has no way to abort a connection, and a plain close waits until the client has read what is
buffered, which a client that reads nothing never does. uvicorn's `receive` is a method of its
request cycle, which holds the transport: `_abort` uses it there, and falls back to the ordinary
close under a server that does not expose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("citysense.api.live")

# What uvicorn logs when an ASGI app ends a response without its last body message, which is
# exactly how a stalled stream is dropped; `StalledStreamFilter` keeps it out of the error log.
KERNEL_SEND_BUFFER_BYTES = 128 * 1024
# What a client may have written to it but not yet taken before the next write waits.
WRITE_BUFFER_BYTES = 64 * 1024

UVICORN_INCOMPLETE = "ASGI callable returned without completing response."


class StalledStreamFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != UVICORN_INCOMPLETE


def server_transport(receive: Receive) -> asyncio.WriteTransport | None:
    """The connection's transport, where the server is uvicorn (its `receive` is a method of the
    object that holds it, for HTTP and WebSocket alike); None elsewhere."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    # Duck-typed: uvloop's transports are not subclasses of asyncio's.
    if all(hasattr(transport, a) for a in ("abort", "is_closing", "get_write_buffer_size")):
        return transport
    return None


def bound_kernel_buffer(transport: asyncio.WriteTransport | None) -> None:
    """The kernel's send buffer grows to 4 MiB per socket by default (tcp_wmem): kernel memory a
    live client that reads nothing takes from the machine, and a delay before it counts as stalled."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER_BYTES)


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

    async def _room(self, transport: asyncio.WriteTransport | None) -> bool:
        """Wait until the transport's own buffer is below WRITE_BUFFER_BYTES; False after `stall_s`.
        The server's flow control cannot be relied on for this: under uvloop, uvicorn's send was
        measured to never wait, and the buffer of a client that reads nothing grew without bound."""
        if transport is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stall_s
        pause = 0.01
        while transport.get_write_buffer_size() > WRITE_BUFFER_BYTES:
            if transport.is_closing() or loop.time() >= deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)
        return True

    async def _pump(self, send: Send, transport: asyncio.WriteTransport | None) -> None:
        chunks = aiter(self.chunks)
        while True:
            # Room first, then the next chunk: a client that does not read holds no chunk of ours
            # (and its snapshot's next page is not even queried) while we wait for it.
            if not await self._room(transport):
                self.stalled = True
                return
            try:
                data = await anext(chunks)
            except StopAsyncIteration:
                break
            try:
                async with asyncio.timeout(self.stall_s):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except TimeoutError:
                self.stalled = True
                return
            del data  # not held while the next _room() waits
        async with asyncio.timeout(self.stall_s):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        transport = server_transport(receive)
        bound_kernel_buffer(transport)
        pump = asyncio.create_task(self._pump(send, transport))
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
        transport = server_transport(receive)
        if transport is not None and not transport.is_closing() and (
                self.stalled or transport.get_write_buffer_size() > 0):
            self.stalled = True
            transport.abort()
        if self.stalled:
            log.info("dropped a live client that read nothing for %g s", self.stall_s)
