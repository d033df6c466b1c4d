"""GET /api/v1/sensors/health. Registered before the sensor routes, whose `{sensor_id:path}` would take it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Response

from api.answers.health import fleet_health
from api.deps import ReadAccess, ReadConn, State
from api.schemas import SensorHealthList
from models.districts import District
from models.metrics import Kind

router = APIRouter(prefix="/api/v1", tags=["sensors"])

Status = Literal[
    "ok", "silent", "late", "stuck", "out_of_range", "rejecting", "low_battery", "clock_skew", "low_uptime",
]


@router.get(
    "/sensors/health", response_model=SensorHealthList, summary="fleet health",
    description=(
        "One entry per sensor: `status` is `ok` or its worst problem's kind; `problems` worst first. "
        "docs/fleet-health.md explains each rule. Without an API key private sensors are left out."
    ),
)
async def sensors_health(
    conn: ReadConn, state: State, access: ReadAccess,
    kind: Annotated[Kind | None, Query(description="only sensors of this kind")] = None,
    district: Annotated[District | None, Query(description="only sensors in this district")] = None,
    status: Annotated[Status | None, Query(description="only sensors with this status")] = None,
) -> Response:
    live = state.bus is not None and state.bus.subscribed
    judged = await fleet_health(conn, state.facts, datetime.now(UTC), live,
                                kind.value if kind else None, district, status, access.authenticated)
    # orjson writes the frozen dataclasses as they are (their fields are the contract's names):
    # thousands of entries without building a pydantic model for each.
    return Response(orjson.dumps({"data": judged}), media_type="application/json")
