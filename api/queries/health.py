"""The facts fleet health is judged from (api/analysis/health.py judges).

Everything comes from what ingest already keeps: the hourly rollups of the last hours (last
value, the trailing run of one repeated value, the gaps between readings) per series, loaded
into the API's memory periodically (api/fleet_facts.py); the dead letters attributed to a
sensor and its clock row, read per request. The rollups hold one row per series and hour, so
the load grows with sensors x series x hours, never with the readings' rate.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

# Per series and hour: a gap estimate (within the hour: its span over its gaps; an hour of one
# reading: the gap back to the previous hour's last), and the trailing run of the series'
# latest value: an hour breaks the run unless its min = max = the next hour's min (so the chain
# of constant hours from the newest back all hold one value); the run is every hour after the
# last break. The median of the hours' gaps is the series' cadence, robust to a dropout.
# One window ordering (series, hour) serves every step: PostgreSQL sorts once.
# An hour's gap estimate in seconds, over rollups `h` with a window `w` per series by hour: its
# span over its gaps, or for an hour of one reading, the gap back to the previous hour's last.
# Shared with the coverage of aggregates (api/queries/aggregates.py): one cadence everywhere.
HOURLY_GAP_S = """CASE WHEN h.count >= 2 THEN extract(epoch FROM h.last_time - h.first_time) / (h.count - 1)
                ELSE extract(epoch FROM h.first_time - lag(h.last_time) OVER w) END"""

_SERIES = f"""
WITH b AS (
    SELECT h.sensor_id, h.metric, h.bucket, h.count, h.first_time, h.last_time, h.last_value,
           {HOURLY_GAP_S} AS gap,
           NOT (h.min = h.max AND h.min = coalesce(lead(h.min) OVER w, h.min)) AS breaks
    FROM readings_hourly h
    WHERE h.bucket >= $1
    WINDOW w AS (PARTITION BY h.sensor_id, h.metric ORDER BY h.bucket)
), r AS (
    SELECT b.*, max(CASE WHEN breaks THEN bucket END) OVER p AS last_break, max(bucket) OVER p AS newest
    FROM b WINDOW p AS (PARTITION BY sensor_id, metric)
), series AS (
    SELECT sensor_id, metric, max(last_time) AS last_time,
           max(last_value) FILTER (WHERE bucket = newest) AS last_value,
           greatest(coalesce(sum(count) FILTER (WHERE last_break IS NULL OR bucket > last_break), 0), 1) AS run,
           coalesce(min(first_time) FILTER (WHERE last_break IS NULL OR bucket > last_break), max(last_time))
               AS run_since,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS gap
    FROM r GROUP BY sensor_id, metric
), per_sensor AS (
    SELECT sensor_id, max(last_time) AS last_time, array_agg(metric) AS metrics, array_agg(last_time) AS last_times,
           array_agg(last_value) AS last_values, array_agg(run) AS runs, array_agg(run_since) AS run_sinces,
           array_agg(gap) AS gaps
    FROM series GROUP BY sensor_id
)
SELECT s.id, s.kind, s.district, s.private, s.created_at, coalesce(p.last_time, s.last_seen) AS last_seen,
       p.metrics, p.last_times, p.last_values, p.runs, p.run_sinces, p.gaps
FROM sensors s LEFT JOIN per_sensor p ON p.sensor_id = s.id
"""

# The recent dead letters attributed to a sensor and its clock rows: few rows (only sensors
# with something to say), read per request so `rejecting` shows at once.
_RECENT = """
WITH rj AS (
    SELECT sensor_id, kind, count(*) AS n, min(received_at) AS first,
           (array_agg(error ORDER BY received_at DESC))[1] AS last_error
    FROM (
        SELECT sensor_id, received_at, error,
               CASE WHEN error LIKE 'InvalidReading:%'
                         AND (error LIKE '% outside %' OR error LIKE '%not a finite number%')
                    THEN 'out_of_range' ELSE 'rejecting' END AS kind
        FROM rejected_messages
        WHERE received_at >= $1 AND sensor_id IS NOT NULL
    ) x GROUP BY sensor_id, kind
), rejects AS (
    SELECT sensor_id, array_agg(kind ORDER BY kind) AS kinds, array_agg(n ORDER BY kind) AS counts,
           array_agg(first ORDER BY kind) AS firsts, array_agg(last_error ORDER BY kind) AS errors
    FROM rj GROUP BY sensor_id
), clocks AS (
    SELECT sensor_id, skew_s, received_at FROM sensor_clock WHERE received_at >= $2
)
SELECT coalesce(j.sensor_id, c.sensor_id) AS id, j.kinds, j.counts, j.firsts, j.errors, c.skew_s,
       c.received_at AS clock_at
FROM rejects j FULL JOIN clocks c ON c.sensor_id = j.sensor_id
"""


async def registry_mark(conn: asyncpg.Connection) -> tuple[int, datetime | None]:
    """How many sensors are registered and the newest registration: when either moved since the
    facts were loaded, a sensor came or went (a few hundred µs for thousands of sensors)."""
    row = await conn.fetchrow("SELECT count(*) AS n, max(created_at) AS newest FROM sensors")
    return int(row["n"]), row["newest"]


async def series_facts(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    """Every registered sensor with its kind, district, privacy and the facts of its series since `since`."""
    rows: list[asyncpg.Record] = await conn.fetch(_SERIES, since)
    return rows


async def recent_facts(conn: asyncpg.Connection, rejects_since: datetime, clock_since: datetime
                       ) -> list[asyncpg.Record]:
    """The sensors with dead letters since `rejects_since` or a clock row since `clock_since`."""
    rows: list[asyncpg.Record] = await conn.fetch(_RECENT, rejects_since, clock_since)
    return rows
