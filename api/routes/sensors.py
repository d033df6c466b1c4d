from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from api import queries
from api.answers import sensors as answers
from api.deps import AdminAccess, Conn, ReadAccess, ReadConn, State
from api.schemas import (
    SENSOR_ID_PATTERN,
    Problem,
    ReadingOut,
    SensorCreate,
    SensorFields,
    SensorImportResult,
    SensorLatest,
    SensorList,
    SensorMap,
    SensorOut,
    SensorPatch,
    SensorReadings,
)
from api.timebuckets import EARLIEST, LATEST
from models.districts import DISTRICTS, District
from models.metrics import METRICS, Kind

router = APIRouter(prefix="/api/v1", tags=["sensors"])

SensorId = Annotated[str, Path(description="`<source>:<device id>`; may contain '/'", examples=["tasmota:pow1"])]
MAX_IMPORT_BYTES = 10 * 1024 * 1024
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such sensor (private sensors count as absent for callers without a key)"}
}


def _not_found(sensor_id: str) -> HTTPException:
    return HTTPException(404, f"no sensor {sensor_id!r}")


@router.get(
    "/sensors", response_model=SensorList, summary="the sensor registry",
    description="Every sensor, by id. Without an API key (public read) private sensors are left out.",
)
async def list_sensors(
    conn: ReadConn,
    access: ReadAccess,
    kind: Annotated[Kind | None, Query(description="only sensors of this kind")] = None,
    district: Annotated[str | None, Query(description=f"one of {', '.join(DISTRICTS)}")] = None,
) -> SensorList:
    if district is not None and district not in DISTRICTS:
        raise HTTPException(400, f"unknown district {district!r}; one of {', '.join(DISTRICTS)}")
    rows = await queries.list_sensors(conn, kind.value if kind else None, district, access.authenticated)
    return SensorList(data=[SensorOut(**r) for r in rows])


_MAP_DESCRIPTION = (
    "A GeoJSON FeatureCollection (RFC 7946) of the sensors that have a position, each with its latest "
    "value per metric. Series silent for longer than `within_hours` (default CITYSENSE_API_LIVE_RECENT_HOURS) "
    "are left out of `latest`; without an API key, private sensors are left out altogether."
)


async def _map(
    conn: ReadConn, state: State, access: ReadAccess, kind: Kind | None, district: District | None,
    within_hours: int | None,
) -> SensorMap:
    hours = within_hours or state.settings.api_live_recent_hours
    return await answers.sensor_map(
        conn, kind.value if kind else None, district, access.authenticated,
        datetime.now(UTC), timedelta(hours=hours),
    )


WithinHours = Annotated[int | None, Query(ge=1, le=24 * 366, description="how far back latest values are looked for")]
KindFilter = Annotated[Kind | None, Query(description="only sensors of this kind")]
DistrictFilter = Annotated[District | None, Query(description="only sensors in this district")]


@router.get(
    "/sensors.geojson", response_model=SensorMap, summary="map: sensors with their latest readings (GeoJSON)",
    description=_MAP_DESCRIPTION, responses={200: {"content": {"application/geo+json": {}}}},
)
async def sensors_geojson(
    conn: ReadConn, state: State, access: ReadAccess, kind: KindFilter = None, district: DistrictFilter = None,
    within_hours: WithinHours = None,
) -> SensorMap:
    return await _map(conn, state, access, kind, district, within_hours)


@router.get("/map", response_model=SensorMap, summary="the same as /api/v1/sensors.geojson",
            description=_MAP_DESCRIPTION)
async def sensor_map(
    conn: ReadConn, state: State, access: ReadAccess, kind: KindFilter = None, district: DistrictFilter = None,
    within_hours: WithinHours = None,
) -> SensorMap:
    return await _map(conn, state, access, kind, district, within_hours)


@router.post(
    "/sensors", response_model=SensorOut, status_code=201, summary="register a sensor (admin)",
    description="Adds a sensor to the registry: its id (`<source>:<device id>`), kind, district, position, "
                "whether it is private (e.g. a household meter: never served to callers without a key) and free "
                "metadata (e.g. `depth_mm` of a bin, from which ingest derives its fill level).",
    responses={409: {"model": Problem, "description": "the id is taken"}},
)
async def create_sensor(conn: Conn, state: State, access: AdminAccess, body: SensorCreate) -> SensorOut:
    row = await queries.create_sensor(conn, body.id, body.model_dump(exclude={"id"}, mode="json"))
    if row is None:
        raise HTTPException(409, f"sensor {body.id!r} exists; PUT or PATCH it instead")
    state.registry.forget(body.id)
    state.facts.forget([body.id])
    return SensorOut(**row)


@router.post(
    "/sensors/import", response_model=SensorImportResult, summary="import a fleet from CSV (admin)",
    description=(
        "Creates or replaces (like PUT) every sensor of a CSV file, all or nothing. Header line required; "
        "columns: `id` (required), `kind`, `model`, `district`, `lat`, `lon`, `private` (true/false), "
        "`metadata` (a JSON object); any other column becomes a metadata key (numbers and true/false "
        "typed, empty cells left out), e.g. `depth_mm` for bins. At most 100 000 rows and 10 MiB."
    ),
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
    responses={400: {"model": Problem, "description": "the first bad line, and why"},
               413: {"model": Problem, "description": "more than 10 MiB"}},
)
async def import_sensors(request: Request, conn: Conn, state: State, access: AdminAccess) -> SensorImportResult:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise HTTPException(413, "a fleet CSV may hold at most 10 MiB")
    try:
        text = body.decode("utf-8-sig")
        rows = answers.validate_fleet(text)
    except UnicodeDecodeError:
        raise HTTPException(400, "the CSV must be UTF-8") from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    created, updated = await queries.import_sensors(conn, rows)
    for sensor_id, _ in rows:
        state.registry.forget(sensor_id)
    state.facts.forget(sensor_id for sensor_id, _ in rows)
    return SensorImportResult(created=created, updated=updated)


@router.get(
    "/sensors/{sensor_id:path}/readings",
    response_model=SensorReadings,
    responses={**_NOT_FOUND, 400: {"model": Problem}},
    summary="raw readings of one sensor, oldest first",
    description="The stored readings of one sensor with `from` <= time < `to`, oldest first, at most `limit` "
                "(`truncated` tells when more matched). Private sensors answer 404 to callers without a key.",
)
async def sensor_readings(
    conn: ReadConn,
    access: ReadAccess,
    sensor_id: SensorId,
    metric: Annotated[str | None, Query(description="a canonical metric name, e.g. power")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="ISO-8601 with a zone, inclusive")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO-8601 with a zone, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="at most this many rows")] = 10_000,
) -> SensorReadings:
    if metric is not None and metric not in METRICS:
        raise HTTPException(400, f"unknown metric {metric!r}")
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(400, f"'{name}' needs a time zone (e.g. 2026-11-26T10:00:00Z)")
        if value is not None and not EARLIEST <= value <= LATEST:
            raise HTTPException(400, f"'{name}' must lie between 1970-01-01 and 2200-01-01")
    if start and end and end <= start:
        raise HTTPException(400, "'to' must be after 'from'")
    if not await queries.sensor_visible(conn, sensor_id, access.authenticated):
        raise _not_found(sensor_id)
    rows = await queries.sensor_readings(conn, sensor_id, metric, start, end, limit)
    return SensorReadings(
        sensor_id=sensor_id,
        data=[ReadingOut(time=r["time"], metric=r["metric"], value=r["value"], unit=METRICS[r["metric"]].unit)
              for r in rows[:limit] if r["metric"] in METRICS],
        truncated=len(rows) > limit,
    )


@router.get(
    "/sensors/{sensor_id:path}/latest", response_model=SensorLatest, responses=_NOT_FOUND,
    summary="the latest value of each metric of one sensor",
    description="The most recent reading per metric, however old (from the hourly rollups' last values).",
)
async def sensor_latest(conn: ReadConn, access: ReadAccess, sensor_id: SensorId) -> SensorLatest:
    if not await queries.sensor_visible(conn, sensor_id, access.authenticated):
        raise _not_found(sensor_id)
    rows = await queries.latest_of_sensor(conn, sensor_id, list(METRICS))
    return SensorLatest(sensor_id=sensor_id, data=answers.latest_values(rows))


@router.get("/sensors/{sensor_id:path}", response_model=SensorOut, responses=_NOT_FOUND,
            summary="one sensor of the registry",
            description="The registry entry of one sensor; first/last seen are the times of its oldest and newest "
                        "reading (last seen to the minute).")
async def get_sensor(conn: ReadConn, access: ReadAccess, sensor_id: SensorId) -> SensorOut:
    row = await queries.get_sensor(conn, sensor_id)
    if row is None or (row["private"] and not access.authenticated):
        raise _not_found(sensor_id)
    return SensorOut(**row)


def _check_id(sensor_id: str) -> None:
    import re

    if len(sensor_id) > 256 or not re.fullmatch(SENSOR_ID_PATTERN, sensor_id):
        raise HTTPException(400, "a sensor id is `<source>:<device id>` (docs/interface.md), e.g. tasmota:pow1")


@router.put(
    "/sensors/{sensor_id:path}", response_model=SensorOut, summary="create or replace a sensor (admin)",
    description="Sets every writable field (missing ones take their defaults). 201 when it created the sensor.",
    responses={201: {"model": SensorOut, "description": "created"}, 400: {"model": Problem}},
)
async def put_sensor(
    conn: Conn, state: State, access: AdminAccess, sensor_id: SensorId, body: SensorFields, response: Response
) -> SensorOut:
    _check_id(sensor_id)
    row, created = await queries.put_sensor(conn, sensor_id, body.model_dump(mode="json"))
    if created:
        response.status_code = 201
    state.registry.forget(sensor_id)
    state.facts.forget([sensor_id])
    return SensorOut(**row)


@router.patch(
    "/sensors/{sensor_id:path}", response_model=SensorOut, responses=_NOT_FOUND,
    summary="change some fields of a sensor (admin)",
    description="Sets only the fields in the body; `model`, `district`, `lat` and `lon` may be set to null, "
                "`kind`, `private` and `metadata` may only be left out. `metadata` is replaced as a whole.",
)
async def patch_sensor(
    conn: Conn, state: State, access: AdminAccess, sensor_id: SensorId, body: SensorPatch
) -> SensorOut:
    row = await queries.patch_sensor(conn, sensor_id, body.model_dump(mode="json", exclude_unset=True))
    if row is None:
        raise _not_found(sensor_id)
    state.registry.forget(sensor_id)
    state.facts.forget([sensor_id])
    return SensorOut(**row)


@router.delete(
    "/sensors/{sensor_id:path}", status_code=204, responses=_NOT_FOUND, summary="remove a sensor (admin)",
    description="Removes the registry entry; with `purge=true` also its readings and rollups. A sensor that "
                "keeps reporting is registered again by ingest (as kind unknown until it is classified).",
)
async def delete_sensor(
    conn: Conn, state: State, access: AdminAccess, sensor_id: SensorId,
    purge: Annotated[bool, Query(description="also delete its readings and rollups")] = False,
) -> Response:
    if not await queries.delete_sensor(conn, sensor_id, purge):
        raise _not_found(sensor_id)
    state.registry.forget(sensor_id)
    state.facts.forget([sensor_id])
    return Response(status_code=204)
