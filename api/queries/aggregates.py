"""SQL of the aggregates: one statement per (source, agg family), built from fixed fragments.

Nothing a caller sends is spliced into SQL text: the fragments are chosen by enum
values, and every value is a bind parameter. Parameters are always $1 metric, $2 from,
$3 to, $4 the selected sensor ids, $5 the bucket interval (an interval for fixed buckets,
its text for calendar ones), for calendar buckets only $6 the time zone, and for the daily
rollups only $7 and $8, the whole local days read from readings_daily (api.aggregation.Route).

Sensors are joined from the `sensors` table (restricted to $4) rather than from an
unnest() of ids and group keys: with the table's statistics the planner hashes the few
hundred sensors and streams the rollups past them, where an unnest() made it hash the
hundreds of thousands of rollup rows instead (2x slower, measured).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api.aggregation import Agg, AggregateRequest, AggRow, GroupBy, Route, Source
from api.queries.health import HOURLY_GAP_S

_GROUP = {
    GroupBy.SENSOR: "s.id",
    GroupBy.DISTRICT: "s.district",
    GroupBy.KIND: "s.kind",
    GroupBy.NONE: "'all'::text",
}

_RAW_VALUE = {
    # sum/count rather than avg(): the rollup path can only divide a sum by a count,
    # and both paths must give the same float.
    Agg.AVG: "sum(r.value) / count(*)",
    Agg.MIN: "min(r.value)",
    Agg.MAX: "max(r.value)",
    Agg.SUM: "sum(r.value)",
    Agg.COUNT: "count(*)::float8",
    # Ties on time (several sensors in one group) are broken by sensor id, the same way in both paths.
    Agg.FIRST: "(array_agg(r.value ORDER BY r.time, r.sensor_id))[1]",
    Agg.LAST: "(array_agg(r.value ORDER BY r.time DESC, r.sensor_id DESC))[1]",
    Agg.P50: "percentile_cont(0.5) WITHIN GROUP (ORDER BY r.value)",
    Agg.P95: "percentile_cont(0.95) WITHIN GROUP (ORDER BY r.value)",
}

_ROLLUP_VALUE = {
    Agg.AVG: "sum(h.sum) / sum(h.count)",
    Agg.MIN: "min(h.min)",
    Agg.MAX: "max(h.max)",
    Agg.SUM: "sum(h.sum)",
    Agg.COUNT: "sum(h.count)::float8",
    Agg.FIRST: "(array_agg(h.first_value ORDER BY h.first_time, h.sensor_id))[1]",
    Agg.LAST: "(array_agg(h.last_value ORDER BY h.last_time DESC, h.sensor_id DESC))[1]",
}

# Aggregates that combine from partials: the rollups are first summed per unit (UTC hour, or local
# day) and group (a few thousand rows), and only those are put into buckets. A calendar bucket costs a
# time-zone conversion per row, which per rollup row was a third of the query.
_PARTIAL = {Agg.AVG: "sum(p.s) / sum(p.n)", Agg.MIN: "min(p.lo)", Agg.MAX: "max(p.hi)", Agg.SUM: "sum(p.s)",
            Agg.COUNT: "sum(p.n)::float8"}

_SENSORS = "JOIN sensors s ON s.id = {col} AND s.id = ANY($4::text[])"


def _bucket(column: str, calendar: bool) -> str:
    if calendar:
        return f"time_bucket($5::text::interval, {column}, $6::text)"
    return f"time_bucket($5::interval, {column})"


def _sensors(distinct: bool, column: str) -> str:
    # count(DISTINCT) costs a sort per group: only computed where small groups are suppressed.
    return f"count(DISTINCT {column})" if distinct else "0"


# The series of metric $1. Hourly rollups are read by their primary key (series_id, bucket) for
# these ids: filtering readings_hourly's `metric` instead let PostgreSQL hash-join every metric's
# hours of the range (today's hours of all 15,000 series of a busy bench database for 2,600 of pm25:
# 25 ms against 11 ms). The daily rows keep the `metric` filter: there a nested loop over the
# metric's series is what the planner picks, and it beat the series-id scan (power, 30 days, 500
# sensors: p50 25 ms against 32 ms). Migration 0009, docs/performance.md.
_SERIES = "ARRAY(SELECT id FROM series WHERE metric = $1)"

# The rollup rows of the range as one relation `h` with readings_hourly's columns. DAILY: the
# daily rows of the whole local days [$7, $8), then the hourly rows of the hours of [$2, $3)
# outside them (a partial first or last day; two ranges, not one OR'd, so each is an index range).
# A daily row's `bucket` is its local midnight; every bucket these queries use holds whole local
# days, so it falls in one.
_DAILY_UNITS = f"""(
    SELECT d.day AS bucket, d.sensor_id, d.count, d.sum, d.min, d.max, d.first_time, d.first_value,
           d.last_time, d.last_value, d.increase
    FROM readings_daily d
    WHERE d.metric = $1 AND d.day >= $7 AND d.day < $8{{daily_sensors}}
    UNION ALL
    SELECT h.bucket, h.sensor_id, h.count, h.sum, h.min, h.max, h.first_time, h.first_value,
           h.last_time, h.last_value, h.increase
    FROM readings_hourly h
    WHERE h.series_id = ANY({_SERIES}) AND h.bucket >= $2 AND h.bucket < $7{{hourly_sensors}}
    UNION ALL
    SELECT h.bucket, h.sensor_id, h.count, h.sum, h.min, h.max, h.first_time, h.first_value,
           h.last_time, h.last_value, h.increase
    FROM readings_hourly h
    WHERE h.series_id = ANY({_SERIES}) AND h.bucket >= $8 AND h.bucket < $3{{hourly_sensors}}
) h"""


def _units(source: Source, by_sensor: bool) -> tuple[str, str]:
    """(relation `h`, condition) of the rollup rows of $1 in range; `by_sensor`: restricted to $4
    in the scan itself (the increase queries, which join sensors only at the end)."""
    if source is Source.DAILY:
        return _DAILY_UNITS.format(
            daily_sensors=" AND d.sensor_id = ANY($4::text[])" if by_sensor else "",
            hourly_sensors=" AND h.sensor_id = ANY($4::text[])" if by_sensor else "",
        ), "true"
    cond = f"h.series_id = ANY({_SERIES}) AND h.bucket >= $2 AND h.bucket < $3"
    return "readings_hourly h", cond + (" AND h.sensor_id = ANY($4::text[])" if by_sensor else "")


def _plain_sql(source: Source, agg: Agg, group: str, calendar: bool, distinct: bool) -> str:
    if source is Source.RAW:
        return f"""
SELECT {_bucket('r.time', calendar)} AS bucket, {group} AS grp, {_RAW_VALUE[agg]} AS value,
       count(*) AS n, {_sensors(distinct, 'r.sensor_id')} AS sensors
FROM readings r {_SENSORS.format(col='r.sensor_id')}
WHERE r.metric = $1 AND r.time >= $2 AND r.time < $3
GROUP BY 1, 2"""
    units, where = _units(source, by_sensor=False)
    if agg in _PARTIAL and not distinct:
        return f"""
SELECT {_bucket('p.unit', calendar)} AS bucket, p.grp, {_PARTIAL[agg]} AS value, sum(p.n)::bigint AS n, 0 AS sensors
FROM (
    SELECT h.bucket AS unit, {group} AS grp, sum(h.sum) AS s, sum(h.count) AS n, min(h.min) AS lo, max(h.max) AS hi
    FROM {units} {_SENSORS.format(col='h.sensor_id')}
    WHERE {where}
    GROUP BY 1, 2
) p
GROUP BY 1, 2"""
    return f"""
SELECT {_bucket('h.bucket', calendar)} AS bucket, {group} AS grp, {_ROLLUP_VALUE[agg]} AS value,
       sum(h.count)::bigint AS n, {_sensors(distinct, 'h.sensor_id')} AS sensors
FROM {units} {_SENSORS.format(col='h.sensor_id')}
WHERE {where}
GROUP BY 1, 2"""


# The increase of a counter over a bucket: the sum of the steps between consecutive readings
# of a sensor whose later reading lies in the bucket; a step down is a reset, and then the new
# value is what accrued since. The last reading before `from` (however old) is the predecessor
# of the first one in range, so consecutive ranges add up.
_RAW_INCREASE = """
WITH sel AS (SELECT unnest($4::text[]) AS sensor_id),
prev AS (
    SELECT sel.sensor_id, p.time, p.value
    FROM sel CROSS JOIN LATERAL (
        SELECT r.time, r.value FROM readings r
        WHERE r.sensor_id = sel.sensor_id AND r.metric = $1 AND r.time < $2
        ORDER BY r.time DESC LIMIT 1
    ) p
), pts AS (
    SELECT r.sensor_id, r.time, r.value
    FROM readings r
    WHERE r.sensor_id = ANY($4::text[]) AND r.metric = $1 AND r.time >= $2 AND r.time < $3
    UNION ALL
    SELECT sensor_id, time, value FROM prev
), steps AS (
    SELECT sensor_id, time, value, value - lag(value) OVER (PARTITION BY sensor_id ORDER BY time) AS step
    FROM pts
)
SELECT {bucket} AS bucket, {group} AS grp,
       sum(CASE WHEN st.step IS NULL THEN 0 WHEN st.step >= 0 THEN st.step ELSE st.value END) AS value,
       count(*) AS n, {sensors} AS sensors
FROM steps st JOIN sensors s ON s.id = st.sensor_id
WHERE st.time >= $2
GROUP BY 1, 2"""

# The same from rollups: the increase inside each hour (or day) is stored; the step across
# their edges goes from the last value of a sensor's previous non-empty hour (or day) to the
# first of the next. The predecessor of `from` is always looked up in the hourly rollups.
_ROLLUP_INCREASE = """
WITH sel AS (SELECT unnest($4::text[]) AS sensor_id),
prev AS (
    SELECT sel.sensor_id, p.bucket, p.last_value
    FROM sel CROSS JOIN LATERAL (
        SELECT h.bucket, h.last_value FROM readings_hourly h
        WHERE h.sensor_id = sel.sensor_id AND h.metric = $1 AND h.bucket < $2
        ORDER BY h.bucket DESC LIMIT 1
    ) p
), hrs AS (
    SELECT h.sensor_id, h.bucket, h.count, h.first_value, h.last_value, h.increase
    FROM {units}
    WHERE {where}
    UNION ALL
    SELECT sensor_id, bucket, 0, last_value, last_value, 0 FROM prev
), steps AS (
    SELECT sensor_id, bucket, count,
           increase + CASE WHEN lag(last_value) OVER w IS NULL THEN 0
                           WHEN first_value >= lag(last_value) OVER w THEN first_value - lag(last_value) OVER w
                           ELSE first_value END AS inc
    FROM hrs
    WINDOW w AS (PARTITION BY sensor_id ORDER BY bucket)
)
SELECT {bucket} AS bucket, {group} AS grp, sum(st.inc) AS value, sum(st.count)::bigint AS n,
       {sensors} AS sensors
FROM steps st JOIN sensors s ON s.id = st.sensor_id
WHERE st.bucket >= $2
GROUP BY 1, 2"""


def aggregate_sql(source: Source, agg: Agg, group_by: GroupBy, calendar: bool, distinct_sensors: bool) -> str:
    group = _GROUP[group_by]
    if agg is Agg.INCREASE:
        sensors = _sensors(distinct_sensors, "st.sensor_id")
        if source is Source.RAW:
            return _RAW_INCREASE.format(bucket=_bucket("st.time", calendar), group=group, sensors=sensors)
        units, where = _units(source, by_sensor=True)
        return _ROLLUP_INCREASE.format(
            bucket=_bucket("st.bucket", calendar), group=group, sensors=sensors, units=units, where=where
        )
    return _plain_sql(source, agg, group, calendar, distinct_sensors)


async def aggregate(
    conn: asyncpg.Connection,
    req: AggregateRequest,
    route: Route,
    sensor_ids: list[str],
    tz_name: str,
    distinct_sensors: bool = False,
) -> list[AggRow]:
    calendar = req.bucket.calendar is not None
    sql = aggregate_sql(route.source, req.agg, req.group_by, calendar, distinct_sensors)
    interval: timedelta | str = req.bucket.sql_interval
    args: tuple[object, ...] = (req.metric, req.start, req.end, sensor_ids, interval)
    if calendar:
        args = (*args, tz_name)
    if route.source is Source.DAILY:
        # Routing sends only calendar buckets here, so $6 is taken and the days are $7, $8.
        assert calendar
        assert route.days is not None
        args = (*args, *route.days)
    rows = await conn.fetch(sql, *args)
    return [
        AggRow(bucket=r["bucket"], group=r["grp"], value=r["value"], count=int(r["n"]), sensors=int(r["sensors"]))
        for r in rows
    ]


# Each sensor's cadence for a metric over whole hours: the median of its hours' gap estimates
# (the same as fleet health's, api/queries/health.py), and its first reading ever.
_CADENCES = f"""
WITH b AS (
    SELECT h.sensor_id, {HOURLY_GAP_S} AS gap
    FROM readings_hourly h
    WHERE h.metric = $1 AND h.bucket >= $2 AND h.bucket < $3 AND h.sensor_id = ANY($4::text[])
    WINDOW w AS (PARTITION BY h.sensor_id ORDER BY h.bucket)
)
SELECT b.sensor_id, s.first_seen, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.gap) AS interval_s
FROM b JOIN sensors s ON s.id = b.sensor_id
GROUP BY b.sensor_id, s.first_seen
HAVING percentile_cont(0.5) WITHIN GROUP (ORDER BY b.gap) > 0
"""


async def cadences(conn: asyncpg.Connection, metric: str, hours_from: datetime, hours_to: datetime,
                   sensor_ids: list[str]) -> list[asyncpg.Record]:
    """(sensor_id, first_seen, interval_s) of the sensors reporting `metric` in the hours [from, to)."""
    rows: list[asyncpg.Record] = await conn.fetch(_CADENCES, metric, hours_from, hours_to, sensor_ids)
    return rows


_SELECT_SENSORS = """
SELECT id, kind, district, private FROM sensors
WHERE (cardinality($1::text[]) = 0 OR district = ANY($1))
  AND (cardinality($2::text[]) = 0 OR kind = ANY($2))
  AND (cardinality($3::text[]) = 0 OR id = ANY($3))
  AND ($4::float8 IS NULL OR (lon BETWEEN $4 AND $6 AND lat BETWEEN $5 AND $7))
  AND ($8 OR NOT private)
ORDER BY id
"""


async def select_sensors(
    conn: asyncpg.Connection,
    districts: list[str],
    kinds: list[str],
    ids: list[str],
    bbox: tuple[float, float, float, float] | None,
    include_private: bool,
) -> list[asyncpg.Record]:
    b = bbox or (None, None, None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        _SELECT_SENSORS, districts, kinds, ids, b[0], b[1], b[2], b[3], include_private
    )
    return rows
