-- Daily rollups per Europe/Brussels calendar day, kept by the writer in the same statement
-- as the hourly ones (ingest/writer.py), so day/week/month aggregates read one row per
-- sensor-day instead of 23-25 sensor-hours.
--
-- `day` is the local midnight that starts the day (a day lasts 23 or 25 hours on the DST
-- days). The zone is fixed, here and in models/rollups.py (DAILY_ZONE): the API reads this
-- table only when CITYSENSE_TIMEZONE is Europe/Brussels. Brussels midnights are whole UTC
-- hours, so every hourly rollup lies in exactly one day and the columns combine exactly:
-- count/sum/min/max/first/last as in readings_hourly, and `increase` = the hours'
-- increases + the steps across the hour edges inside the day (same reset rule). As in the
-- hourly table, the increase is 0 except for the cumulative counters, and the writer marks
-- it NaN only inside a transaction that recounts it before committing.
CREATE TABLE readings_daily (
    day         timestamptz      NOT NULL,
    sensor_id   text             NOT NULL,
    metric      text             NOT NULL,
    count       bigint           NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_time  timestamptz      NOT NULL,
    first_value double precision NOT NULL,
    last_time   timestamptz      NOT NULL,
    last_value  double precision NOT NULL,
    increase    double precision NOT NULL,
    PRIMARY KEY (sensor_id, metric, day)
) WITH (fillfactor = 50);
-- Today's row of every series is rewritten by nearly every batch. Half-empty pages keep
-- those updates HOT (on the same page, no index entries): no indexed column ever changes.
-- The table is small (one row per series and day), so the space does not matter.
-- A plain table rather than a hypertable: it is ~24x smaller than the hourly rollups and
-- is never dropped by retention.
CREATE INDEX readings_daily_metric_day ON readings_daily (metric, day);

-- Rebuild the whole table from readings_hourly. The migration runs it once to fill the table
-- from an existing database; run it again (SELECT rebuild_readings_daily();) if a writer
-- older than this migration stored readings after it ran (such a writer keeps only the
-- hourly rollups). Writers wait while it runs (SHARE lock on the hourly rollups).
CREATE FUNCTION rebuild_readings_daily() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE readings_hourly IN SHARE MODE;
    LOCK TABLE readings_daily IN EXCLUSIVE MODE;
    DELETE FROM readings_daily;
    INSERT INTO readings_daily (day, sensor_id, metric, count, sum, min, max,
                                first_time, first_value, last_time, last_value, increase)
    SELECT day, sensor_id, metric, sum(count), sum(sum), min(min), max(max),
           min(first_time), (array_agg(first_value ORDER BY bucket))[1],
           max(last_time), (array_agg(last_value ORDER BY bucket DESC))[1],
           -- models.metrics: the cumulative counters as of this migration
           CASE WHEN metric IN ('energy_export', 'energy_import', 'gas_volume')
                THEN sum(increase + CASE WHEN prev IS NULL THEN 0
                                         WHEN first_value >= prev THEN first_value - prev
                                         ELSE first_value END)
                ELSE 0 END
    FROM (
        SELECT h.*, lag(h.last_value) OVER (PARTITION BY h.sensor_id, h.metric, h.day ORDER BY h.bucket) AS prev
        FROM (SELECT *, time_bucket('1 day', bucket, 'Europe/Brussels') AS day FROM readings_hourly) h
    ) x
    GROUP BY day, sensor_id, metric;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

SELECT rebuild_readings_daily();
