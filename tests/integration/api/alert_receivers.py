"""Local stand-ins for who receives alerts: a webhook endpoint (a real HTTP server on a free
loopback port) and an MQTT subscriber on the alert topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiomqtt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from citysense.endpoints import MqttEndpoint
from tests.integration.support import eventually, free_port


@contextlib.asynccontextmanager
async def webhook_receiver(received: list[tuple[bytes, str]]) -> AsyncIterator[str]:
    """A webhook endpoint on a free loopback port: records each body and its signature header."""

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers.get("x-citysense-signature", "")))
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(_started(server), 10, "the webhook receiver")
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


def _started(server: uvicorn.Server) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(server.started)
    return check


@contextlib.asynccontextmanager
async def subscriber(mqtt: MqttEndpoint, received: list[tuple[str, bytes, bool]]) -> AsyncIterator[None]:
    async with aiomqtt.Client(mqtt.host, mqtt.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe("citysense/alerts/#", qos=1)

        async def read() -> None:
            async for m in client.messages:
                received.append((str(m.topic), bytes(m.payload), bool(m.retain)))  # type: ignore[arg-type]

        task = asyncio.create_task(read())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
