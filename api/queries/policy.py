"""SQL behind the policy endpoints. All of it reads the hourly rollups (whole hours), except the
bin fill levels, whose regression wants every reading since the last emptying."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

_SEL = "sel(sensor_id, grp) AS (SELECT * FROM unnest($1::text[], $2::text[]))"


async def hourly_sums_local(
    conn: asyncpg.Connection, ids: Sequence[str], groups: Sequence[str | None], metrics: Sequence[str],
    start: datetime, end: datetime, tz: str, low_uptime: float,
) -> list[asyncpg.Record]:
    """Per metric, group and hour: the sum of the values, with the hour's local wall-clock start,
    and `low`: the part of it from sensor-hours whose Telraam `uptime` was above 0 and under
    `low_uptime` (counted that little of the time, so extrapolated)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
WITH {_SEL}
SELECT h.metric, sel.grp, h.bucket AT TIME ZONE $6 AS local_hour, sum(h.sum) AS total,
       coalesce(sum(h.sum) FILTER (WHERE u.sum / u.count > 0 AND u.sum / u.count < $7), 0) AS low
FROM readings_hourly h JOIN sel ON sel.sensor_id = h.sensor_id
LEFT JOIN readings_hourly u ON u.sensor_id = h.sensor_id AND u.metric = 'uptime' AND u.bucket = h.bucket
WHERE h.metric = ANY($3::text[]) AND h.bucket >= $4 AND h.bucket < $5
GROUP BY 1, 2, 3
ORDER BY 3""",
        list(ids), list(groups), list(metrics), start, end, tz, low_uptime,
    )
    return rows


async def raw_series(
    conn: asyncpg.Connection, ids: Sequence[str], metric: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Raw readings of the sensors, `start` <= time <= `end`, by sensor then time."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT r.sensor_id, r.time, r.value FROM readings r "
        "WHERE r.sensor_id = ANY($1::text[]) AND r.metric = $2 AND r.time >= $3 AND r.time <= $4 "
        "ORDER BY r.sensor_id, r.time",
        list(ids), metric, start, end,
    )
    return rows


async def hours_at_or_above(
    conn: asyncpg.Connection, ids: Sequence[str], groups: Sequence[str | None], metric: str,
    level: float, start: datetime, end: datetime,
) -> list[asyncpg.Record]:
    """Per group: sensor-hours whose maximum reached `level`."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
WITH {_SEL}
SELECT sel.grp, count(*) AS hours
FROM readings_hourly h JOIN sel ON sel.sensor_id = h.sensor_id
WHERE h.metric = $3 AND h.bucket >= $4 AND h.bucket < $5 AND h.max >= $6
GROUP BY 1""",
        list(ids), list(groups), metric, start, end, level,
    )
    return rows


async def hourly_stats(
    conn: asyncpg.Connection, ids: Sequence[str], metric: str, start: datetime, end: datetime, tz: str
) -> list[asyncpg.Record]:
    """Per sensor and hour: mean, min and max, with the hour's UTC and local wall-clock start."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT h.sensor_id, h.bucket, h.bucket AT TIME ZONE $5 AS local_hour, h.sum / h.count AS mean, "
        "h.min, h.max FROM readings_hourly h "
        "WHERE h.sensor_id = ANY($1::text[]) AND h.metric = $2 AND h.bucket >= $3 AND h.bucket < $4 "
        "ORDER BY h.sensor_id, h.bucket",
        list(ids), metric, start, end, tz,
    )
    return rows


async def daily_means_of_hourly_means(
    conn: asyncpg.Connection, ids: Sequence[str], metrics: Sequence[str], start: datetime, end: datetime, tz: str
) -> list[asyncpg.Record]:
    """Per sensor, metric and local day: the mean of the hourly means, and how many hours had data."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT h.sensor_id, h.metric, (time_bucket('1 day'::interval, h.bucket, $5::text) AT TIME ZONE $5) AS day, "
        "avg(h.sum / h.count) AS mean, count(*) AS hours FROM readings_hourly h "
        "WHERE h.sensor_id = ANY($1::text[]) AND h.metric = ANY($2::text[]) AND h.bucket >= $3 AND h.bucket < $4 "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        list(ids), list(metrics), start, end, tz,
    )
    return rows
