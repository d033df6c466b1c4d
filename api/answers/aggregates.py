"""Answering an aggregate request: select sensors, bound the answer's size, route to the daily or
hourly rollups or raw rows, then suppress small groups and fill gaps."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

from api.aggregation import (
    ALL_GROUP,
    AggregateRequest,
    AggRow,
    GroupBy,
    Source,
    check_size,
    choose_route,
    fill_gaps,
    group_key,
    sort_rows,
    suppress_small,
)
from api.aggregation import Fill as FillMode
from api.queries import aggregates as sql


@dataclass(frozen=True, slots=True)
class AggregateAnswer:
    rows: list[AggRow]
    source: Source
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    max_rows: int
    tz: ZoneInfo
    min_sensors: int | None = None  # k: suppress rows fed by fewer sensors (open data)
    sensor_groups_public_only: bool = False  # open data: never a group of a private sensor


async def answer(
    conn: asyncpg.Connection, req: AggregateRequest, requested: Source, limits: Limits
) -> AggregateAnswer:
    f = req.filter
    bbox = (f.bbox.min_lon, f.bbox.min_lat, f.bbox.max_lon, f.bbox.max_lat) if f.bbox else None
    sensors = await sql.select_sensors(
        conn, list(f.districts), list(f.kinds), list(f.sensors), bbox, f.include_private
    )
    if req.group_by is GroupBy.SENSOR and limits.sensor_groups_public_only:
        sensors = [s for s in sensors if not s["private"]]
    ids = [s["id"] for s in sensors]
    # The SQL computes the same keys from the same rows; here they only count the groups.
    keys = [group_key(req.group_by, s["id"], s["kind"], s["district"]) for s in sensors]
    check_size(req, len(set(keys)), limits.max_rows, limits.tz)
    route = choose_route(req, requested, limits.tz)
    rows: list[AggRow] = []
    if ids:
        distinct = limits.min_sensors is not None
        rows = await sql.aggregate(conn, req, route, ids, limits.tz.key, distinct_sensors=distinct)
    suppressed = 0
    if limits.min_sensors is not None:
        rows, suppressed = suppress_small(rows, limits.min_sensors)
    if req.fill is FillMode.NULL:
        rows = fill_gaps(rows, req, limits.tz, [ALL_GROUP] if req.group_by is GroupBy.NONE else [])
    else:
        rows = sort_rows(rows)
    return AggregateAnswer(rows, route.source, suppressed)
