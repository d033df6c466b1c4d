"""The database side of ingest: one transaction per batch, rollups kept exact, dead letters kept.

The only module of ingest that talks to PostgreSQL. `write` commits or raises;
the caller acknowledges the batch's MQTT messages only after it returned.
"""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ingest.prepare import PreparedBatch, Reject
from ingest.series_ids import SeriesIds
from models.rollups import CUMULATIVE, DAILY_ZONE

log = logging.getLogger("citysense.ingest.writer")


def rollup_merge(alias: str, key: str = "series_id", cumulative: str = "$4::int[]") -> str:
    """The ON CONFLICT update that folds a batch's aggregate (`excluded`) into a stored rollup
    row: the same rule for hours and days. `key` names the series column, `cumulative` the
    parameter listing the cumulative series (the baseline in bench/legacy_writer.py keys by text)."""
    a = alias
    return f"""\
        count = {a}.count + excluded.count,
        sum = {a}.sum + excluded.sum,
        min = least({a}.min, excluded.min),
        max = greatest({a}.max, excluded.max),
        first_time = least({a}.first_time, excluded.first_time),
        first_value = CASE WHEN excluded.first_time < {a}.first_time THEN excluded.first_value
                           ELSE {a}.first_value END,
        last_time = greatest({a}.last_time, excluded.last_time),
        last_value = CASE WHEN excluded.last_time > {a}.last_time THEN excluded.last_value
                          ELSE {a}.last_value END,
        increase = CASE
            WHEN excluded.{key} <> ALL({cumulative}) THEN 0
            WHEN excluded.first_time > {a}.last_time THEN {a}.increase + excluded.increase
                + CASE WHEN excluded.first_value >= {a}.last_value THEN excluded.first_value - {a}.last_value
                       ELSE excluded.first_value END
            WHEN excluded.last_time < {a}.first_time THEN {a}.increase + excluded.increase
                + CASE WHEN {a}.first_value >= excluded.last_value THEN {a}.first_value - excluded.last_value
                       ELSE {a}.first_value END
            ELSE 'NaN'::float8 END"""


# Insert the raw rows, then fold the rows that were really inserted into the hourly
# rollups, and the batch's hours into the daily ones. Merging is exact for
# count/sum/min/max/first/last; the increase merges when the new rows lie wholly after
# (or before) the stored ones, and is marked NaN for a recount otherwise (late data
# landing inside an hour or a day already stored).
#
# Every table is keyed by the integer series id (migration 0007); $4 lists the batch's
# series of cumulative counters, the only ones that carry an increase.
#
# Only days already folded (before series_daily_folded.folded_until, migration 0007: late data)
# are merged into series_daily here; the days after are folded from the hourly rows once they
# are over (models/daily_fold.py), which halves the upserts of a steady fleet. The boundary row
# is read FOR SHARE: a fold waits for this batch, or this batch for the fold and then merges
# into the rows it wrote.
#
# The daily rows are built from the batch's hourly aggregates, not from every inserted
# row: a day is the hours in it (DAILY_ZONE's midnights are whole UTC hours), plus the
# steps across the hour edges for the increase. That is one time-zone conversion per
# series-hour of the batch instead of one per reading.
#
# All hourly rows are upserted before any daily row (`hours_done`): every writer then
# locks rollup rows in the same order (hourly, sorted; then daily, sorted), so two
# replicas writing the same series cannot deadlock.
_INSERT_AND_ROLL_UP = f"""
WITH ins AS (
    INSERT INTO series_readings (time, series_id, value)
    SELECT * FROM unnest($1::timestamptz[], $2::int[], $3::float8[])
    ON CONFLICT DO NOTHING
    RETURNING time, series_id, value
), steps AS (
    SELECT series_id, time_bucket('1 hour', time) AS bucket, time, value,
           value - lag(value) OVER w AS step
    FROM ins
    WINDOW w AS (PARTITION BY series_id, time_bucket('1 hour', time) ORDER BY time)
), agg AS (
    SELECT bucket, series_id, count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi,
           min(time) AS t0, (array_agg(value ORDER BY time))[1] AS v0,
           max(time) AS t1, (array_agg(value ORDER BY time DESC))[1] AS v1,
           CASE WHEN series_id = ANY($4::int[])
                THEN coalesce(sum(CASE WHEN step IS NULL THEN 0 WHEN step >= 0 THEN step ELSE value END), 0)
                ELSE 0 END AS inc
    FROM steps
    GROUP BY bucket, series_id
), up AS (
    INSERT INTO series_hourly AS h (bucket, series_id, count, sum, min, max,
                                    first_time, first_value, last_time, last_value, increase)
    SELECT bucket, series_id, n, s, lo, hi, t0, v0, t1, v1, inc
    FROM agg ORDER BY series_id, bucket
    ON CONFLICT (series_id, bucket) DO UPDATE SET
{rollup_merge('h')}
    RETURNING series_id, bucket, increase
), hours_done AS (
    SELECT count(*) AS n FROM up
), folded AS (
    SELECT folded_until FROM series_daily_folded FOR SHARE
), hours_of_days AS (
    SELECT a.*, lag(a.v1) OVER (PARTITION BY a.series_id, a.day ORDER BY a.bucket) AS prev
    FROM (SELECT agg.*, time_bucket('1 day', agg.bucket, $5::text) AS day FROM agg) a
    WHERE a.day < (SELECT folded_until FROM folded)
), dagg AS (
    SELECT d.day, d.series_id, sum(d.n) AS n, sum(d.s) AS s, min(d.lo) AS lo, max(d.hi) AS hi,
           min(d.t0) AS t0, (array_agg(d.v0 ORDER BY d.bucket))[1] AS v0,
           max(d.t1) AS t1, (array_agg(d.v1 ORDER BY d.bucket DESC))[1] AS v1,
           CASE WHEN d.series_id = ANY($4::int[])
                THEN sum(d.inc + CASE WHEN d.prev IS NULL THEN 0 WHEN d.v0 >= d.prev THEN d.v0 - d.prev
                                      ELSE d.v0 END)
                ELSE 0 END AS inc
    FROM hours_of_days d CROSS JOIN hours_done
    GROUP BY d.day, d.series_id
), dup AS (
    INSERT INTO series_daily AS d (day, series_id, count, sum, min, max,
                                   first_time, first_value, last_time, last_value, increase)
    SELECT day, series_id, n, s, lo, hi, t0, v0, t1, v1, inc
    FROM dagg ORDER BY series_id, day
    ON CONFLICT (series_id, day) DO UPDATE SET
{rollup_merge('d')}
    RETURNING series_id, day, increase
)
SELECT (SELECT count(*) FROM ins) AS inserted, h.*, d.*
FROM (
    SELECT array_agg(series_id) FILTER (WHERE increase = 'NaN') AS dirty_series,
           array_agg(bucket) FILTER (WHERE increase = 'NaN') AS dirty_buckets
    FROM up
) h, (
    SELECT array_agg(series_id) FILTER (WHERE increase = 'NaN') AS dirty_day_series,
           array_agg(day) FILTER (WHERE increase = 'NaN') AS dirty_days
    FROM dup
) d
"""
# Only cumulative counters carry an increase (0 elsewhere): replicas on a shared
# subscription interleave a sensor's readings, and every interleaved hour of a
# counter costs a recount inside the transaction.
# NaN rather than NULL marks a recount: the column stays NOT NULL, so a bug that
# forgot the recount could never commit a NULL that queries would silently skip.
# A day is dirty whenever one of its hours is (the new rows overlap the stored ones in
# that hour, hence in the day), so the dirty days are what triggers a recount.

# Recount the marked hours from the raw rows, then the marked days from their hours:
# the hours' increases (the recounted ones from `fixed`, since this statement's own
# snapshot still shows the NaN) plus the steps across the hour edges inside the day.
_RECOUNT_INCREASE = """
WITH dirty AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[]) AS d(series_id, bucket)
), steps AS (
    SELECT d.series_id, d.bucket, r.value,
           r.value - lag(r.value) OVER (PARTITION BY d.series_id, d.bucket ORDER BY r.time) AS step
    FROM dirty d
    JOIN series_readings r ON r.series_id = d.series_id
                          AND r.time >= d.bucket AND r.time < d.bucket + INTERVAL '1 hour'
), inc AS (
    SELECT series_id, bucket,
           coalesce(sum(CASE WHEN step IS NULL THEN 0 WHEN step >= 0 THEN step ELSE value END), 0) AS v
    FROM steps GROUP BY series_id, bucket
), fixed AS (
    UPDATE series_hourly h SET increase = inc.v
    FROM inc WHERE h.series_id = inc.series_id AND h.bucket = inc.bucket
    RETURNING h.series_id, h.bucket, h.increase
), days AS (
    SELECT * FROM unnest($3::int[], $4::timestamptz[]) AS d(series_id, day)
), hours AS (
    SELECT d.series_id, d.day, h.bucket, h.first_value,
           coalesce(f.increase, h.increase) AS increase,
           lag(h.last_value) OVER (PARTITION BY d.series_id, d.day ORDER BY h.bucket) AS prev
    FROM days d
    JOIN series_hourly h ON h.series_id = d.series_id AND h.bucket >= d.day
         -- the next local midnight: 23, 24 or 25 hours later
         AND h.bucket < ((d.day AT TIME ZONE $5::text)::date + 1)::timestamp AT TIME ZONE $5::text
    LEFT JOIN fixed f ON f.series_id = h.series_id AND f.bucket = h.bucket
), dinc AS (
    SELECT series_id, day,
           sum(increase + CASE WHEN prev IS NULL THEN 0 WHEN first_value >= prev THEN first_value - prev
                               ELSE first_value END) AS v
    FROM hours GROUP BY series_id, day
)
UPDATE series_daily d SET increase = dinc.v
FROM dinc WHERE d.series_id = dinc.series_id AND d.day = dinc.day
"""

# A sub-sensor (a meter's phase `dsmr:X:l1`, a second channel `shelly:X:switch:1`) is
# registered with its parent's district, place and privacy: a private household
# meter's phases must be as private as the meter.
_UPSERT_SENSORS = """
INSERT INTO sensors AS s (id, source, kind, district, lat, lon, private, first_seen, last_seen)
SELECT u.id, split_part(u.id, ':', 1), CASE WHEN u.kind = 'unknown' THEN coalesce(p.kind, u.kind) ELSE u.kind END,
       p.district, p.lat, p.lon, coalesce(p.private, false), u.first_seen, u.last_seen
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS u(id, kind, first_seen, last_seen)
LEFT JOIN LATERAL (
    -- The parent candidates are u.id's prefixes that end before a ':' ("dsmr:X:l1": "dsmr",
    -- "dsmr:X"): primary-key probes. Matching every sensor against u.id instead scanned the
    -- whole table for each sensor of the batch (~5 us of backend CPU per reading in the bench).
    SELECT kind, district, lat, lon, private FROM sensors
    WHERE sensors.id = ANY(ARRAY(
        SELECT array_to_string(parts[1:n], ':')
        FROM (SELECT string_to_array(u.id, ':') AS parts) x, generate_series(1, cardinality(parts) - 1) AS n))
    ORDER BY length(sensors.id) DESC LIMIT 1
) p ON true
ORDER BY u.id
ON CONFLICT (id) DO UPDATE SET
    first_seen = least(s.first_seen, excluded.first_seen),
    last_seen = greatest(s.last_seen, excluded.last_seen),
    kind = CASE WHEN s.kind = 'unknown' THEN excluded.kind ELSE s.kind END
"""

_INSERT_REJECTS = """
INSERT INTO rejected_messages (received_at, topic, payload, error, sensor_id)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bytea[], $4::text[], $5::text[])
"""

# A later batch may carry an older device time (a message a gateway buffered): it never
# replaces a newer one, so a late message is not mistaken for a wrong clock.
_UPSERT_CLOCKS = """
INSERT INTO sensor_clock AS c (sensor_id, device_time, received_at, skew_s)
SELECT s, d, r, extract(epoch FROM r - d) FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(s, d, r)
ORDER BY s
ON CONFLICT (sensor_id) DO UPDATE SET device_time = excluded.device_time, received_at = excluded.received_at,
    skew_s = excluded.skew_s
WHERE excluded.device_time > c.device_time
"""
# A sensor's clock row is rewritten at most once a minute unless its skew moved by more than
# this: the row exists to catch minutes of skew, not to churn on every message.
_CLOCK_RESOLUTION = timedelta(minutes=1)
_CLOCK_SKEW_STEP_S = 30.0

# last_seen is kept to the minute: rewriting every sensor row on every batch would
# churn the table for a timestamp nobody needs to the second.
_LAST_SEEN_RESOLUTION = timedelta(minutes=1)

_CUMULATIVE = frozenset(CUMULATIVE)


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    duplicates: int
    rejected: int
    recounted_hours: int
    recounted_days: int
    seconds: float


class Writer:
    _upsert_sensors = _UPSERT_SENSORS  # the baseline (bench/legacy_writer.py) keeps the statement it had

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # (first_seen, last_seen) as this writer last stored them, per sensor
        self._seen: dict[str, tuple[datetime, datetime]] = {}
        # (device time, skew in s) as this writer last stored them, per sensor
        self._clocks: dict[str, tuple[datetime, float]] = {}
        self._series = SeriesIds()

    def _clock_updates(self, batch: PreparedBatch) -> tuple[list[str], list[datetime], list[datetime]]:
        ids: list[str] = []
        devices: list[datetime] = []
        receipts: list[datetime] = []
        for sensor_id, (device, received) in batch.clocks.items():
            stored = self._clocks.get(sensor_id)
            skew = (received - device).total_seconds()
            if (stored is not None and device < stored[0] + _CLOCK_RESOLUTION
                    and abs(skew - stored[1]) < _CLOCK_SKEW_STEP_S):
                continue
            ids.append(sensor_id)
            devices.append(device)
            receipts.append(received)
        return ids, devices, receipts

    def _sensor_updates(self, batch: PreparedBatch) -> tuple[list[str], list[str], list[datetime], list[datetime]]:
        ids: list[str] = []
        kinds: list[str] = []
        firsts: list[datetime] = []
        lasts: list[datetime] = []
        for sensor_id, seen in batch.sensors.items():
            stored = self._seen.get(sensor_id)
            if stored is not None and seen.first >= stored[0] and seen.last < stored[1] + _LAST_SEEN_RESOLUTION:
                continue
            ids.append(sensor_id)
            kinds.append(seen.kind)
            firsts.append(seen.first)
            lasts.append(seen.last)
        return ids, kinds, firsts, lasts

    async def write(self, batch: PreparedBatch) -> WriteResult:
        """Commit the batch in one transaction, or raise (nothing of it is then stored)."""
        start = clock.perf_counter()
        sensors = self._sensor_updates(batch)
        clocks = self._clock_updates(batch)
        async with self._pool.acquire() as conn:
            await self._prepare_readings(conn, batch)
            async with conn.transaction():
                if sensors[0]:
                    await conn.execute(self._upsert_sensors, *sensors)
                inserted, recounted, recounted_days = await self._write_readings(conn, batch)
                if clocks[0]:
                    await conn.execute(_UPSERT_CLOCKS, *clocks)
                if batch.rejects:
                    # A plain 4-tuple (received_at, topic, payload, error) is a Reject that names no sensor.
                    cols = list(zip(*(Reject(*r) for r in batch.rejects), strict=True))
                    await conn.execute(_INSERT_REJECTS, *[list(c) for c in cols])
        # Only after the commit: a rolled-back batch must be written again in full.
        for sensor_id, first, last in zip(sensors[0], sensors[2], sensors[3], strict=True):
            stored = self._seen.get(sensor_id)
            if stored is not None:
                first, last = min(stored[0], first), max(stored[1], last)
            self._seen[sensor_id] = (first, last)
        for sensor_id, device, received in zip(*clocks, strict=True):
            self._clocks[sensor_id] = (device, (received - device).total_seconds())
        return WriteResult(
            inserted=inserted,
            duplicates=len(batch) - inserted,
            rejected=len(batch.rejects),
            recounted_hours=recounted,
            recounted_days=recounted_days,
            seconds=clock.perf_counter() - start,
        )

    async def _prepare_readings(self, conn: asyncpg.Connection, batch: PreparedBatch) -> None:
        """Before the batch's transaction: the ids of the batch's series (ingest.series_ids)."""
        await self._series.resolve(conn, zip(batch.sensor_ids, batch.metrics, strict=True))

    async def _write_readings(self, conn: asyncpg.Connection, batch: PreparedBatch) -> tuple[int, int, int]:
        """Inside the batch's transaction: the raw rows and the rollups. Returns (inserted,
        recounted hours, recounted days)."""
        if not len(batch):
            return 0, 0, 0
        ids = self._series.ids(batch.sensor_ids, batch.metrics)
        cumulative = list({i for i, m in zip(ids, batch.metrics, strict=True) if m in _CUMULATIVE})
        row = await conn.fetchrow(_INSERT_AND_ROLL_UP, batch.times, ids, batch.values, cumulative, DAILY_ZONE)
        # A dirty hour always makes its day dirty; testing both costs nothing and
        # never lets a NaN commit should that ever stop being true.
        if not (row["dirty_days"] or row["dirty_series"]):
            return row["inserted"], 0, 0
        await conn.execute(
            _RECOUNT_INCREASE, row["dirty_series"] or [], row["dirty_buckets"] or [],
            row["dirty_day_series"] or [], row["dirty_days"] or [], DAILY_ZONE,
        )
        return row["inserted"], len(row["dirty_series"] or ()), len(row["dirty_days"] or ())

    async def known_sensors(self) -> set[str]:
        async with self._pool.acquire() as conn:
            return {r["id"] for r in await conn.fetch("SELECT id FROM sensors")}

    async def bin_depths(self) -> dict[str, float]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, (metadata->>'depth_mm')::float8 AS depth FROM sensors "
                "WHERE metadata ? 'depth_mm' AND jsonb_typeof(metadata->'depth_mm') = 'number'"
            )
        return {r["id"]: r["depth"] for r in rows}
