from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketState

from api.admission import Refusal
from api.answers.live import KEEPALIVE_S, events
from api.auth import Access, Verdict, decide, presented_key
from api.auth import Scope as KeyScope
from api.deps import LiveReadAccess, State
from api.live.hub import LiveFilter
from api.live.sse import EventStreamResponse, bound_kernel_buffer, server_transport
from api.schemas import District, Problem
from api.state import AppState
from models.metrics import METRICS, Kind

router = APIRouter(prefix="/api/v1", tags=["live"])

KindsQ = Annotated[list[Kind], Query(alias="kind", description="only sensors of this kind (repeatable)")]
DistrictsQ = Annotated[
    list[District], Query(alias="district", description="only sensors in this district (repeatable)")
]
SensorsQ = Annotated[list[str], Query(alias="sensor", description="only these sensor ids (repeatable)")]
MetricsQ = Annotated[list[str], Query(alias="metric", description="only these metrics (repeatable)")]

_PROTOCOL = """
Events, each a JSON object with a `type`:

1. `latest` — `{sensor_id, metric, value, unit, time}`: the latest value of each matching series
   (from the hourly rollups' last values, series that reported within CITYSENSE_API_LIVE_RECENT_HOURS);
2. `snapshot_end` — `{series}`: the snapshot is complete;
3. `reading` — the same fields as `latest`, for every reading committed to the database from now on
   (ingest republishes each committed batch on the live bus; a reading may arrive twice);
4. `lagged` — `{missed}`: this client fell behind and `missed` readings were dropped for it alone
   (its queue holds CITYSENSE_API_LIVE_QUEUE readings and CITYSENSE_API_LIVE_QUEUE_BYTES bytes);
   others are not slowed;
5. `closed` — `{reason}`: the last event of a client that stayed behind for CITYSENSE_API_LIVE_MAX_LAG_S
   (WebSocket: then closed with code 1008 and the reason). A client that reads nothing at all for that
   long is disconnected.

Limits (all configurable, see docs/operations.md): live clients per process, per client address
without a key, and the request rate of callers without a key. A refused client gets 429 with
`Retry-After` (WebSocket: accepted, then closed with code 1013 "try again later" and the reason).

Filters combine with AND; repeat a parameter for OR within it. Without an API key
(CITYSENSE_PUBLIC_READ=true) readings of private sensors are never sent.
"""


def live_filter(
    kind: list[Kind], district: list[str], sensor: list[str], metric: list[str], access: Access
) -> LiveFilter:
    unknown = sorted(set(metric) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}")
    return LiveFilter(
        kinds=frozenset(k.value for k in kind), districts=frozenset(district), sensors=frozenset(sensor),
        metrics=frozenset(metric), include_private=access.authenticated,
    )


@router.get(
    "/live/sse",
    summary="live readings as Server-Sent Events",
    description=_PROTOCOL + "\nSSE: each event has `event: <type>` and `data: <json>`; a comment line every "
                            "15 s keeps idle connections open.",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
               400: {"model": Problem}, 429: {"model": Problem}},
)
async def live_sse(
    request: Request, state: State, access: LiveReadAccess, kind: KindsQ = [],  # noqa: B006
    district: DistrictsQ = [], sensor: SensorsQ = [], metric: MetricsQ = [],  # noqa: B006
) -> EventStreamResponse:
    try:
        flt = live_filter(kind, list(district), sensor, metric, access)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    address, keyed = client_address(request.client), access.authenticated
    try:
        state.live_slots.take(address, keyed)
    except Refusal as r:
        raise HTTPException(429, r.reason, headers={"Retry-After": str(r.retry_after_s)}) from None

    async def body() -> AsyncIterator[bytes]:
        yield b": citysense live feed\n\n"
        async for batch in events(state, flt, keepalive=KEEPALIVE_S):
            if batch is None:
                yield b": keepalive\n\n"
                continue
            data = b"".join(ev.sse for ev in batch)
            batch.clear()  # no event stays referenced while the write waits for the client
            yield data

    return EventStreamResponse(
        body(), stall_s=state.settings.api_live_max_lag_s,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        on_close=lambda stalled: _closed(state, address, keyed, stalled),
    )


def _closed(state: AppState, address: str, keyed: bool, stalled: bool) -> None:
    state.live_slots.give_back(address, keyed)
    state.hub.closed_stalled += int(stalled)


def client_address(client: object) -> str:
    host = getattr(client, "host", None)
    return host if isinstance(host, str) else "unknown"


async def _refuse(websocket: WebSocket, status: int, detail: str) -> None:
    # An HTTP answer to the handshake where the server supports it, so a client can tell 401 from 403.
    try:
        await websocket.send_denial_response(JSONResponse({"detail": detail}, status_code=status))
    except RuntimeError:
        await websocket.close(code=1008, reason=detail)


def _ws_access(state: AppState, websocket: WebSocket, api_key: str | None) -> tuple[Verdict, Access]:
    presented = presented_key(websocket.headers.get("x-api-key"), websocket.headers.get("authorization")) or api_key
    return decide(state.keys, presented, KeyScope.READ, state.settings.public_read)


@router.get(
    "/live",
    summary="live readings over a WebSocket",
    description=_PROTOCOL + "\nConnect with a WebSocket (`ws://…/api/v1/live?kind=air`); one JSON text message per "
                            "event, messages from the client are ignored. The key goes in `X-API-Key` / "
                            "`Authorization: Bearer` (or `api_key`); a refused handshake answers 401/403/400. "
                            "A plain HTTP GET answers 426.",
    status_code=426,
    responses={426: {"model": Problem, "description": "this is a WebSocket endpoint"}},
    response_model=Problem,
)
async def live_ws_doc(
    kind: KindsQ = [],  # noqa: B006
    district: DistrictsQ = [],  # noqa: B006
    sensor: SensorsQ = [],  # noqa: B006
    metric: MetricsQ = [],  # noqa: B006
    api_key: Annotated[str | None, Query(description="the API key, for clients that cannot set headers")] = None,
) -> JSONResponse:
    return JSONResponse({"detail": "a WebSocket endpoint: connect with Upgrade: websocket"}, status_code=426,
                        headers={"Upgrade": "websocket"})


@router.websocket("/live")
async def live_ws(
    websocket: WebSocket,
    kind: KindsQ = [],  # noqa: B006
    district: DistrictsQ = [],  # noqa: B006
    sensor: SensorsQ = [],  # noqa: B006
    metric: MetricsQ = [],  # noqa: B006
    api_key: Annotated[str | None, Query(description="the API key, for clients that cannot set headers")] = None,
) -> None:
    """The live feed over a WebSocket (same events and filters as /api/v1/live/sse, one JSON text
    message per event). Messages from the client are ignored."""
    state: AppState = websocket.state.app
    verdict, access = _ws_access(state, websocket, api_key)
    if verdict is not Verdict.ALLOW:
        await _refuse(websocket, 401 if verdict is Verdict.UNAUTHORIZED else 403, verdict.value)
        return
    try:
        flt = live_filter(kind, list(district), sensor, metric, access)
    except ValueError as exc:
        await _refuse(websocket, 400, str(exc))
        return
    address, keyed = client_address(websocket.client), access.authenticated
    try:
        if not keyed:
            state.public_rate.hit(address)
        state.live_slots.take(address, keyed)
    except Refusal as r:
        await websocket.accept()
        await websocket.close(code=1013, reason=r.reason[:120])  # a close reason holds 123 bytes
        return
    try:
        await websocket.accept()
        # Starlette keeps the server's receive as `_receive`: its transport lets us bound the socket's
        # kernel buffer as for SSE (the send timeouts in _stream bound the rest).
        bound_kernel_buffer(server_transport(websocket._receive))
        await _stream(websocket, state, flt)
    finally:
        state.live_slots.give_back(address, keyed)


async def _stream(websocket: WebSocket, state: AppState, flt: LiveFilter) -> None:
    stall_s = state.settings.api_live_max_lag_s
    closing: list[str] = []

    async def pump() -> None:
        async for batch in events(state, flt):
            texts = [ev.data.decode() for ev in batch or ()]
            if batch and batch[-1].type == "closed":
                closing.append(orjson.loads(batch[-1].data)["reason"])
            if batch:
                batch.clear()  # no event stays referenced while a send waits for the client
            for text in texts:
                # A client that reads nothing fills its socket and then this send waits: give up after
                # the same time a client may stay behind.
                async with asyncio.timeout(stall_s):
                    await websocket.send_text(text)

    async def drain() -> None:
        # The only way to notice a client that went away while no readings flow.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    sender = asyncio.create_task(pump())
    receiver = asyncio.create_task(drain())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (sender, receiver):
            t.cancel()
        results = await asyncio.gather(sender, receiver, return_exceptions=True)
        stalled = isinstance(results[0], TimeoutError)
        state.hub.closed_stalled += int(stalled)
        if websocket.application_state is WebSocketState.CONNECTED:
            # 1008 (policy violation) with the reason for a client that stayed behind; a client that
            # reads nothing gets the close frame queued, and the server drops the socket after its
            # close timeout.
            code, reason = (1008, closing[0][:120]) if closing else (1008, "too slow: read nothing") if stalled \
                else (1000, "")
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, TimeoutError):
                async with asyncio.timeout(5):
                    await websocket.close(code=code, reason=reason)
