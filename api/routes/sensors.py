from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api import queries
from api.deps import Conn
from api.schemas import Problem, ReadingOut, SensorList, SensorOut, SensorReadings
from models.metrics import METRICS, Kind

router = APIRouter(prefix="/api/v1", tags=["sensors"])

DISTRICTS = ("Leuven", "Heverlee", "Kessel-Lo", "Wilsele", "Wijgmaal")


@router.get("/sensors", response_model=SensorList, summary="the sensor registry")
async def list_sensors(
    conn: Conn,
    kind: Annotated[Kind | None, Query(description="only sensors of this kind")] = None,
    district: Annotated[str | None, Query(description=f"one of {', '.join(DISTRICTS)}")] = None,
) -> SensorList:
    if district is not None and district not in DISTRICTS:
        raise HTTPException(400, f"unknown district {district!r}; one of {', '.join(DISTRICTS)}")
    rows = await queries.list_sensors(conn, kind.value if kind else None, district)
    return SensorList(data=[SensorOut(**r) for r in rows])


@router.get(
    "/sensors/{sensor_id:path}/readings",
    response_model=SensorReadings,
    responses={404: {"model": Problem}, 400: {"model": Problem}},
    summary="raw readings of one sensor, oldest first",
)
async def sensor_readings(
    conn: Conn,
    sensor_id: str,
    metric: Annotated[str | None, Query(description="a canonical metric name, e.g. power")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="ISO-8601, inclusive")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO-8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="at most this many rows")] = 10_000,
) -> SensorReadings:
    if metric is not None and metric not in METRICS:
        raise HTTPException(400, f"unknown metric {metric!r}")
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(400, f"'{name}' needs a time zone (e.g. 2026-11-26T10:00:00Z)")
    if start and end and end <= start:
        raise HTTPException(400, "'to' must be after 'from'")
    if not await queries.sensor_exists(conn, sensor_id):
        raise HTTPException(404, f"no sensor {sensor_id!r}")
    rows = await queries.sensor_readings(conn, sensor_id, metric, start, end, limit)
    return SensorReadings(
        sensor_id=sensor_id,
        data=[ReadingOut(time=r["time"], metric=r["metric"], value=r["value"], unit=METRICS[r["metric"]].unit)
              for r in rows[:limit]],
        truncated=len(rows) > limit,
    )
