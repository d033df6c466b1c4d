"""The ASGI middleware that holds callers without a key to CITYSENSE_API_PUBLIC_RATE.

It runs before routing and before any database work, so a flood of anonymous requests is answered
with a cheap 429. Requests that present a valid key, `/health`, `/metrics` and the dashboard's
static files are never limited; WebSocket handshakes are limited in the live route (the answer
there is a close code, not an HTTP status).
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import Refusal
from api.auth import presented_key
from api.state import AppState

LIMITED_PREFIXES = ("/api/",)


class PublicRateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        state: AppState | None = scope.get("state", {}).get("app")
        if state is None or not state.public_rate.items:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        presented = presented_key(headers.get("x-api-key"), headers.get("authorization")) or \
            QueryParams(scope.get("query_string", b"")).get("api_key")
        if presented is not None and state.keys.scope_of(presented) is not None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        try:
            state.public_rate.hit(client[0] if client else "unknown")
        except Refusal as r:
            body = orjson.dumps({"detail": r.reason})
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(r.retry_after_s).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
