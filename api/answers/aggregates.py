"""Answering an aggregate request: select sensors, bound the answer's size, route to the daily or
hourly rollups or raw rows, then suppress small groups and fill gaps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
from api.analysis.coverage import Cadence, with_coverage
from api.queries import aggregates as sql
from api.timebuckets import bucket_end


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
    coverage: bool = False  # each row's received ÷ expected readings


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


async def _cadences(conn: asyncpg.Connection, req: AggregateRequest, sensors: list[asyncpg.Record]
                    ) -> list[Cadence]:
    """The cadence of each selected sensor reporting the metric, learned over the range's whole hours."""
    group = {s["id"]: group_key(req.group_by, s["id"], s["kind"], s["district"]) for s in sensors}
    end_hour = _hour_floor(req.end)
    if end_hour < req.end:
        end_hour += timedelta(hours=1)
    rows = await sql.cadences(conn, req.metric, _hour_floor(req.start), end_hour, list(group))
    return [Cadence(group[r["sensor_id"]], r["first_seen"], r["interval_s"]) for r in rows]


async def _sensors(conn: asyncpg.Connection, req: AggregateRequest, limits: Limits) -> list[asyncpg.Record]:
    """The sensors the request's filter selects, as the answer may show them."""
    f = req.filter
    bbox = (f.bbox.min_lon, f.bbox.min_lat, f.bbox.max_lon, f.bbox.max_lat) if f.bbox else None
    sensors: list[asyncpg.Record] = await sql.select_sensors(
        conn, list(f.districts), list(f.kinds), list(f.sensors), bbox, f.include_private
    )
    if req.group_by is GroupBy.SENSOR and limits.sensor_groups_public_only:
        sensors = [s for s in sensors if not s["private"]]
    return sensors


async def answer(
    conn: asyncpg.Connection, req: AggregateRequest, requested: Source, limits: Limits
) -> AggregateAnswer:
    sensors = await _sensors(conn, req, limits)
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
    if limits.coverage and rows:
        rows = await _with_coverage(conn, req, rows, sensors, limits.tz)
    return AggregateAnswer(rows, route.source, suppressed)


async def _with_coverage(conn: asyncpg.Connection, req: AggregateRequest, rows: list[AggRow],
                         sensors: list[asyncpg.Record], tz: ZoneInfo) -> list[AggRow]:
    return with_coverage(rows, await _cadences(conn, req, sensors), req.start, req.end,
                         lambda start: bucket_end(start, req.bucket, tz))


async def coverage_of(conn: asyncpg.Connection, req: AggregateRequest, rows: list[AggRow], limits: Limits
                      ) -> list[AggRow]:
    """`rows` (of answer() for a wider range) with the coverage answer() gives for `req`'s range.

    Coverage depends on the range (the cadence is learned over its hours), so whoever splits a
    wider answer into ranges of its own (the bulk files: a week's query, a file per day) gets each
    range's coverage here from one small query instead of answering every range again."""
    if not rows:
        return rows
    return await _with_coverage(conn, req, rows, await _sensors(conn, req, limits), limits.tz)
