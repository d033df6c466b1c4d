from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import queries
from api.deps import State
from api.read_route import UNREACHABLE
from api.schemas import HealthStatus

router = APIRouter(tags=["health"])

REPLICA_PROBE_WAIT_S = 0.5


@router.get(
    "/health",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "the database does not answer"}},
    summary="200 only when the database (the primary) answers; a read replica's state is reported",
    description="Public. `live_bus` tells whether this process follows the live bus (subscribed), is "
                "(re)connecting to the broker, or has it switched off; `push` the same for HTTP push's connection.",
)
async def health(state: State) -> HealthStatus | JSONResponse:
    bus = "off" if state.bus is None else ("subscribed" if state.bus.subscribed else "connecting")
    push = "off" if state.push is None else ("connected" if state.push.publisher.connected else "connecting")
    try:
        # The primary must answer (pushes, registry, alerts, and the reads while a replica is unreachable).
        async with state.pool.acquire(timeout=2) as conn:
            version = await queries.database_answers(conn)
    except UNREACHABLE as exc:
        body = HealthStatus(status="unavailable", database=f"unreachable: {type(exc).__name__}", live_bus=bus,
                            push=push, read_replica=state.reads.replica_state)
        return JSONResponse(status_code=503, content=body.model_dump())
    # A replica that does not answer degrades nothing but the primary's load: reported, not a 503.
    # It is asked directly (not through the fallback), so /health notices it going and coming back;
    # /health waits for that answer only briefly, so a replica that never answers cannot slow it down.
    await state.reads.probe(wait_s=REPLICA_PROBE_WAIT_S)
    return HealthStatus(status="ok", database="ok", timescaledb=version, live_bus=bus, push=push,
                        read_replica=state.reads.replica_state)
