"""SQL of the SensorThings API: the visible sensors, the series (sensor x metric) and pages of one
series' readings. All of it is here so that it can be pointed at the series-keyed tables of the
storage rewrite (#14) in one place.

Observations are read from the series-keyed storage (migration 0007): the series id of
`sensor_id = $1 AND metric = $2` looked up once, then conditions on `time`, ordered by time and cut
with LIMIT: an index range scan of series_readings_key (series_id, time) that stops after a page,
whatever the length of the series (EXPLAIN in tests/integration/api/test_sensorthings.py).
Pages after the first continue after the previous page's last time (keyset), not with OFFSET.
A `$filter` is rendered from the predicate tree with every literal a bind parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api.sensorthings.filtering import And, Compare, Not, Op, Or, Path, Predicate
from api.sensorthings.graph import SensorRow, SeriesRow

_SENSORS = """
SELECT id, kind, model, district, lat, lon FROM sensors
WHERE ($1 OR NOT private) AND ($2::text IS NULL OR id = $2)
ORDER BY id
"""

# One row per series from the daily rollups (one row per sensor, metric and day): far fewer rows
# than readings. After #14 this is the `series` table.
_SERIES = """
SELECT d.sensor_id, d.metric, min(d.first_time) AS first, max(d.last_time) AS last
FROM readings_daily d JOIN sensors s ON s.id = d.sensor_id AND ($1 OR NOT s.private)
WHERE ($2::text IS NULL OR d.sensor_id = $2) AND ($3::text IS NULL OR d.metric = $3)
GROUP BY 1, 2
"""

_COLUMNS: dict[Path, str] = {("phenomenonTime",): "time", ("result",): "value"}
_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


async def sensors(conn: asyncpg.Connection, include_private: bool, sensor_id: str | None = None) -> list[SensorRow]:
    rows = await conn.fetch(_SENSORS, include_private, sensor_id)
    return [SensorRow(r["id"], r["kind"], r["model"], r["district"], r["lat"], r["lon"]) for r in rows]


async def series(
    conn: asyncpg.Connection, include_private: bool, sensor_id: str | None = None, metric: str | None = None
) -> list[SeriesRow]:
    rows = await conn.fetch(_SERIES, include_private, sensor_id, metric)
    return [SeriesRow(r["sensor_id"], r["metric"], r["first"], r["last"]) for r in rows]


def render_filter(pred: Predicate, args: list[object]) -> str:
    """SQL for an Observation predicate; appends its literals to `args` (numbered after them)."""
    if isinstance(pred, And):
        return f"({render_filter(pred.left, args)} AND {render_filter(pred.right, args)})"
    if isinstance(pred, Or):
        return f"({render_filter(pred.left, args)} OR {render_filter(pred.right, args)})"
    if isinstance(pred, Not):
        return f"(NOT {render_filter(pred.operand, args)})"
    assert isinstance(pred, Compare)
    column = _COLUMNS[pred.path]
    if pred.value is None:  # both columns are NOT NULL
        return "false" if pred.op is Op.EQ else "true"
    args.append(pred.value)
    return f"{column} {_SQL_OPS[pred.op]} ${len(args)}"


# One series' rows: its id is an InitPlan evaluated once, so the scan below is on the key's range.
_ONE_SERIES = "series_id = (SELECT id FROM series WHERE sensor_id = $1 AND metric = $2)"


def observations_sql(pred: Predicate | None, after: datetime | None, descending: bool, offset: int,
                     until: datetime | None = None, from_: datetime | None = None) -> tuple[str, list[object]]:
    """The statement of one page and its arguments after $1 sensor, $2 metric, $3 limit. `after`:
    the keyset (exclusive); `from_` and `until` bound the window in the page's direction, so the
    planner opens only the chunks of the window."""
    args: list[object] = [None, None, None]  # $1-$3; render_filter numbers from len(args) + 1
    where = [_ONE_SERIES]
    # Windows follow each other, each one's `until` the next one's `from_`: ascending [from_, until),
    # descending [until, from_), so a row on a window edge is read once.
    for value, ascending_op, descending_op in ((after, ">", "<"), (from_, ">=", "<"), (until, "<", ">=")):
        if value is not None:
            args.append(value)
            where.append(f"time {descending_op if descending else ascending_op} ${len(args)}")
    if pred is not None:
        where.append(render_filter(pred, args))
    order = "DESC" if descending else "ASC"
    sql = f"SELECT time, value FROM series_readings WHERE {' AND '.join(where)} ORDER BY time {order} LIMIT $3"
    if offset:
        args.append(offset)
        sql += f" OFFSET ${len(args)}"
    return sql, args[3:]


# The series' rows per local day, in the page's direction from the keyset on: where a page of N rows
# ends (at the latest) is read from their counts without touching the readings.
_DAYS_ASC = """
SELECT day, count FROM readings_daily
WHERE sensor_id = $1 AND metric = $2 AND ($3::timestamptz IS NULL OR day > $3 - interval '26 hours')
ORDER BY day LIMIT $4"""
_DAYS_DESC = """
SELECT day, count FROM readings_daily
WHERE sensor_id = $1 AND metric = $2 AND ($3::timestamptz IS NULL OR day <= $3)
ORDER BY day DESC LIMIT $4"""
_DAY = timedelta(hours=26)  # longer than any local day (23-25 h)
_LOCAL_DAY = timedelta(hours=24)
_MAX_DAYS = 400


def window_end(
    days: list[tuple[datetime, int]], need: int, descending: bool, start: datetime | None
) -> datetime | None:
    """Where a window from `start` holding about `need` rows of these days ends (a quarter more, for
    uneven days): the day containing `start` counts for the part of it past `start` (rows assumed
    spread evenly), the others whole. None: to the end of the series. Too short a window only costs
    another one; too long one costs planning a chunk more."""
    total = 0.0
    for day, count in days:
        if start is None:
            share = 1.0
        elif descending:
            share = (start - day) / _LOCAL_DAY
        else:
            share = (day + _LOCAL_DAY - start) / _LOCAL_DAY
        total += count * min(1.0, max(0.0, share))
        if total >= need * 1.25:
            return day if descending else day + _DAY
    return None


async def observations(
    conn: asyncpg.Connection, sensor_id: str, metric: str, pred: Predicate | None, after: datetime | None,
    descending: bool, limit: int, offset: int = 0,
) -> list[tuple[datetime, float]]:
    """A page: up to `limit` rows after the keyset. A hypertable query without an upper bound on time
    plans every chunk after the keyset (a year of daily chunks: most of the page's time), so the page
    is read in windows that the daily counts say hold enough rows; a filter that drops rows may need
    a next window."""
    if offset:  # $skip: rare (nextLinks carry the keyset), one unbounded query
        sql, rest = observations_sql(pred, after, descending, offset)
        return [(r["time"], r["value"]) for r in await conn.fetch(sql, sensor_id, metric, limit, *rest)]
    out: list[tuple[datetime, float]] = []
    lo: datetime | None = None  # where the current window starts, after the first
    # A filter drops an unknown share of the rows: each further window is sized for 4x more.
    growth = 1
    while len(out) < limit:
        start = lo if lo is not None else after
        days = await conn.fetch(_DAYS_DESC if descending else _DAYS_ASC, sensor_id, metric, start, _MAX_DAYS)
        end = window_end([(d["day"], d["count"]) for d in days], (limit - len(out)) * growth, descending, start)
        growth *= 4
        sql, rest = observations_sql(pred, after if lo is None else None, descending, 0, until=end, from_=lo)
        rows = await conn.fetch(sql, sensor_id, metric, limit - len(out), *rest)
        out.extend((r["time"], r["value"]) for r in rows)
        if end is None or not days:
            break
        lo = end
    return out


async def count_observations(conn: asyncpg.Connection, sensor_id: str, metric: str, pred: Predicate | None) -> int:
    args: list[object] = [None, None]
    where = _ONE_SERIES
    if pred is not None:
        where += " AND " + render_filter(pred, args)
    n: int = await conn.fetchval(f"SELECT count(*) FROM series_readings WHERE {where}", sensor_id, metric,
                                 *args[2:])
    return n


async def observation_at(conn: asyncpg.Connection, sensor_id: str, metric: str, time: datetime) -> float | None:
    value: float | None = await conn.fetchval(
        f"SELECT value FROM series_readings WHERE {_ONE_SERIES} AND time = $3", sensor_id, metric, time
    )
    return value
