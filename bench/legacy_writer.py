"""Today's writer before migration 0007, kept as the bench's baseline until the new one wins
(issue #14): raw rows and rollups keyed by (sensor_id, metric) as text, in a database migrated up
to 0006 only (models.migrate.apply(until=6)). The statements are those ingest/writer.py ran then,
the rules and comments are ingest/writer.py's; only the key differs. Also builds the populated
pre-0007 databases the conversion test migrates."""

from __future__ import annotations

import asyncpg

from ingest.prepare import PreparedBatch
from ingest.writer import Writer, rollup_merge
from models.rollups import CUMULATIVE, DAILY_ZONE

LAST_VERSION = 6  # the last migration of the text-keyed schema

_INSERT_AND_ROLL_UP = f"""
WITH ins AS (
    INSERT INTO readings (time, sensor_id, metric, value)
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])
    ON CONFLICT DO NOTHING
    RETURNING time, sensor_id, metric, value
), steps AS (
    SELECT sensor_id, metric, time_bucket('1 hour', time) AS bucket, time, value,
           value - lag(value) OVER w AS step
    FROM ins
    WINDOW w AS (PARTITION BY sensor_id, metric, time_bucket('1 hour', time) ORDER BY time)
), agg AS (
    SELECT bucket, sensor_id, metric, count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi,
           min(time) AS t0, (array_agg(value ORDER BY time))[1] AS v0,
           max(time) AS t1, (array_agg(value ORDER BY time DESC))[1] AS v1,
           CASE WHEN metric = ANY($5::text[])
                THEN coalesce(sum(CASE WHEN step IS NULL THEN 0 WHEN step >= 0 THEN step ELSE value END), 0)
                ELSE 0 END AS inc
    FROM steps
    GROUP BY bucket, sensor_id, metric
), up AS (
    INSERT INTO readings_hourly AS h (bucket, sensor_id, metric, count, sum, min, max,
                                      first_time, first_value, last_time, last_value, increase)
    SELECT bucket, sensor_id, metric, n, s, lo, hi, t0, v0, t1, v1, inc
    FROM agg ORDER BY sensor_id, metric, bucket
    ON CONFLICT (sensor_id, metric, bucket) DO UPDATE SET
{rollup_merge('h', 'metric', '$5::text[]')}
    RETURNING sensor_id, metric, bucket, increase
), hours_done AS (
    SELECT count(*) AS n FROM up
), hours_of_days AS (
    SELECT a.*, lag(a.v1) OVER (PARTITION BY a.sensor_id, a.metric, a.day ORDER BY a.bucket) AS prev
    FROM (SELECT agg.*, time_bucket('1 day', agg.bucket, $6::text) AS day FROM agg) a
), dagg AS (
    SELECT d.day, d.sensor_id, d.metric, sum(d.n) AS n, sum(d.s) AS s, min(d.lo) AS lo, max(d.hi) AS hi,
           min(d.t0) AS t0, (array_agg(d.v0 ORDER BY d.bucket))[1] AS v0,
           max(d.t1) AS t1, (array_agg(d.v1 ORDER BY d.bucket DESC))[1] AS v1,
           CASE WHEN d.metric = ANY($5::text[])
                THEN sum(d.inc + CASE WHEN d.prev IS NULL THEN 0 WHEN d.v0 >= d.prev THEN d.v0 - d.prev
                                      ELSE d.v0 END)
                ELSE 0 END AS inc
    FROM hours_of_days d CROSS JOIN hours_done
    GROUP BY d.day, d.sensor_id, d.metric
), dup AS (
    INSERT INTO readings_daily AS d (day, sensor_id, metric, count, sum, min, max,
                                     first_time, first_value, last_time, last_value, increase)
    SELECT day, sensor_id, metric, n, s, lo, hi, t0, v0, t1, v1, inc
    FROM dagg ORDER BY sensor_id, metric, day
    ON CONFLICT (sensor_id, metric, day) DO UPDATE SET
{rollup_merge('d', 'metric', '$5::text[]')}
    RETURNING sensor_id, metric, day, increase
)
SELECT (SELECT count(*) FROM ins) AS inserted, h.*, d.*
FROM (
    SELECT array_agg(sensor_id) FILTER (WHERE increase = 'NaN') AS dirty_sensors,
           array_agg(metric) FILTER (WHERE increase = 'NaN') AS dirty_metrics,
           array_agg(bucket) FILTER (WHERE increase = 'NaN') AS dirty_buckets
    FROM up
) h, (
    SELECT array_agg(sensor_id) FILTER (WHERE increase = 'NaN') AS dirty_day_sensors,
           array_agg(metric) FILTER (WHERE increase = 'NaN') AS dirty_day_metrics,
           array_agg(day) FILTER (WHERE increase = 'NaN') AS dirty_days
    FROM dup
) d
"""

_RECOUNT_INCREASE = """
WITH dirty AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS d(sensor_id, metric, bucket)
), steps AS (
    SELECT d.sensor_id, d.metric, d.bucket, r.value,
           r.value - lag(r.value) OVER (PARTITION BY d.sensor_id, d.metric, d.bucket ORDER BY r.time) AS step
    FROM dirty d
    JOIN readings r ON r.sensor_id = d.sensor_id AND r.metric = d.metric
                   AND r.time >= d.bucket AND r.time < d.bucket + INTERVAL '1 hour'
), inc AS (
    SELECT sensor_id, metric, bucket,
           coalesce(sum(CASE WHEN step IS NULL THEN 0 WHEN step >= 0 THEN step ELSE value END), 0) AS v
    FROM steps GROUP BY sensor_id, metric, bucket
), fixed AS (
    UPDATE readings_hourly h SET increase = inc.v
    FROM inc WHERE h.sensor_id = inc.sensor_id AND h.metric = inc.metric AND h.bucket = inc.bucket
    RETURNING h.sensor_id, h.metric, h.bucket, h.increase
), days AS (
    SELECT * FROM unnest($4::text[], $5::text[], $6::timestamptz[]) AS d(sensor_id, metric, day)
), hours AS (
    SELECT d.sensor_id, d.metric, d.day, h.bucket, h.first_value,
           coalesce(f.increase, h.increase) AS increase,
           lag(h.last_value) OVER (PARTITION BY d.sensor_id, d.metric, d.day ORDER BY h.bucket) AS prev
    FROM days d
    JOIN readings_hourly h ON h.sensor_id = d.sensor_id AND h.metric = d.metric AND h.bucket >= d.day
         -- the next local midnight: 23, 24 or 25 hours later
         AND h.bucket < ((d.day AT TIME ZONE $7::text)::date + 1)::timestamp AT TIME ZONE $7::text
    LEFT JOIN fixed f ON f.sensor_id = h.sensor_id AND f.metric = h.metric AND f.bucket = h.bucket
), dinc AS (
    SELECT sensor_id, metric, day,
           sum(increase + CASE WHEN prev IS NULL THEN 0 WHEN first_value >= prev THEN first_value - prev
                               ELSE first_value END) AS v
    FROM hours GROUP BY sensor_id, metric, day
)
UPDATE readings_daily d SET increase = dinc.v
FROM dinc WHERE d.sensor_id = dinc.sensor_id AND d.metric = dinc.metric AND d.day = dinc.day
"""

_UPSERT_SENSORS_BEFORE = """
INSERT INTO sensors AS s (id, source, kind, district, lat, lon, private, first_seen, last_seen)
SELECT u.id, split_part(u.id, ':', 1), CASE WHEN u.kind = 'unknown' THEN coalesce(p.kind, u.kind) ELSE u.kind END,
       p.district, p.lat, p.lon, coalesce(p.private, false), u.first_seen, u.last_seen
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS u(id, kind, first_seen, last_seen)
LEFT JOIN LATERAL (
    SELECT kind, district, lat, lon, private FROM sensors
    WHERE left(u.id, length(sensors.id) + 1) = sensors.id || ':' AND sensors.id <> u.id
    ORDER BY length(sensors.id) DESC LIMIT 1
) p ON true
ORDER BY u.id
ON CONFLICT (id) DO UPDATE SET
    first_seen = least(s.first_seen, excluded.first_seen),
    last_seen = greatest(s.last_seen, excluded.last_seen),
    kind = CASE WHEN s.kind = 'unknown' THEN excluded.kind ELSE s.kind END
"""


class LegacyWriter(Writer):
    """ingest.writer.Writer with the text-keyed statements and the sensor upsert it had then
    (clocks and dead letters as now)."""

    _upsert_sensors = _UPSERT_SENSORS_BEFORE

    async def _prepare_readings(self, conn: asyncpg.Connection, batch: PreparedBatch) -> None:
        return None  # no series ids

    async def _write_readings(self, conn: asyncpg.Connection, batch: PreparedBatch) -> tuple[int, int, int]:
        if not len(batch):
            return 0, 0, 0
        row = await conn.fetchrow(_INSERT_AND_ROLL_UP, batch.times, batch.sensor_ids, batch.metrics, batch.values,
                                  list(CUMULATIVE), DAILY_ZONE)
        if not (row["dirty_days"] or row["dirty_sensors"]):
            return row["inserted"], 0, 0
        await conn.execute(
            _RECOUNT_INCREASE,
            row["dirty_sensors"] or [], row["dirty_metrics"] or [], row["dirty_buckets"] or [],
            row["dirty_day_sensors"] or [], row["dirty_day_metrics"] or [], row["dirty_days"] or [],
            DAILY_ZONE,
        )
        return row["inserted"], len(row["dirty_sensors"] or ()), len(row["dirty_days"] or ())
