from __future__ import annotations

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import queries
from api.deps import State
from api.schemas import HealthStatus

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "the database does not answer"}},
    summary="200 only when the database answers (with a read replica: both)",
    description="Public. `live_bus` tells whether this process follows the live bus (subscribed), is "
                "(re)connecting to the broker, or has it switched off; `push` the same for HTTP push's connection.",
)
async def health(state: State) -> HealthStatus | JSONResponse:
    bus = "off" if state.bus is None else ("subscribed" if state.bus.subscribed else "connecting")
    push = "off" if state.push is None else ("connected" if state.push.publisher.connected else "connecting")
    try:
        # The replica's answer, where the reads go; the primary must answer too (pushes, registry, alerts).
        if state.read_pool is not state.pool:
            async with state.pool.acquire(timeout=2) as conn:
                await queries.database_answers(conn)
        async with state.read_pool.acquire(timeout=2) as conn:
            version = await queries.database_answers(conn)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        body = HealthStatus(status="unavailable", database=f"unreachable: {type(exc).__name__}", live_bus=bus,
                            push=push)
        return JSONResponse(status_code=503, content=body.model_dump())
    return HealthStatus(status="ok", database="ok", timescaledb=version, live_bus=bus, push=push)
