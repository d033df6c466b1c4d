-- The views of 0007 also show each row's `series_id` (appended, so every column they had stays
-- where it was). A query for one metric across the fleet can then pick its series first and read
-- the rollups by their primary key (series_id = ANY(ids) AND bucket/day in range), one B-tree
-- scan. Filtering the view's `metric` instead gets a hash join of every metric's rows of the range:
-- on the bench database (500 sensors, 30 days; docs/performance.md) the 30 days of pm25 daily rows
-- cost 31 ms that way, 9.3 ms by series id; today's pm25 hours 25 ms and 11 ms.

CREATE OR REPLACE VIEW readings AS
SELECT r.time, s.sensor_id, s.metric, r.value, r.series_id
FROM series_readings r JOIN series s ON s.id = r.series_id;

CREATE OR REPLACE VIEW readings_hourly AS
SELECT h.bucket, s.sensor_id, s.metric, h.count, h.sum, h.min, h.max,
       h.first_time, h.first_value, h.last_time, h.last_value, h.increase, h.series_id
FROM series_hourly h JOIN series s ON s.id = h.series_id;

-- 0007's readings_daily, with series_id a grouping and partitioning column of its second part too,
-- so a filter on it reaches series_hourly's primary key there as well.
CREATE OR REPLACE VIEW readings_daily AS
SELECT d.day, s.sensor_id, s.metric, d.count, d.sum, d.min, d.max,
       d.first_time, d.first_value, d.last_time, d.last_value, d.increase, d.series_id
FROM series_daily d JOIN series s ON s.id = d.series_id
WHERE d.day < (SELECT folded_until FROM series_daily_folded)
UNION ALL
SELECT x.day, x.sensor_id, x.metric, sum(x.count)::bigint, sum(x.sum), min(x.min), max(x.max),
       min(x.first_time), (array_agg(x.first_value ORDER BY x.bucket))[1],
       max(x.last_time), (array_agg(x.last_value ORDER BY x.bucket DESC))[1],
       CASE WHEN x.metric IN ('energy_export', 'energy_import', 'gas_volume')
            THEN sum(x.increase + CASE WHEN x.prev IS NULL THEN 0
                                       WHEN x.first_value >= x.prev THEN x.first_value - x.prev
                                       ELSE x.first_value END)
            ELSE 0::float8 END,
       x.series_id
FROM (
    SELECT y.*, lag(y.last_value) OVER (PARTITION BY y.series_id, y.day ORDER BY y.bucket) AS prev
    FROM (SELECT h.*, s.sensor_id, s.metric, time_bucket('1 day', h.bucket, 'Europe/Brussels') AS day
          FROM series_hourly h JOIN series s ON s.id = h.series_id
          WHERE h.bucket >= (SELECT folded_until FROM series_daily_folded)) y
) x
GROUP BY x.day, x.series_id, x.sensor_id, x.metric;

-- The fold takes the series id from the view instead of joining `series` back on its name.
CREATE OR REPLACE FUNCTION fold_series_daily(until timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    since timestamptz;
    n bigint;
BEGIN
    SELECT folded_until INTO since FROM series_daily_folded FOR UPDATE;
    IF until <= since THEN
        RETURN 0;
    END IF;
    INSERT INTO series_daily (day, series_id, count, sum, min, max,
                              first_time, first_value, last_time, last_value, increase)
    SELECT r.day, r.series_id, r.count, r.sum, r.min, r.max, r.first_time, r.first_value, r.last_time,
           r.last_value, r.increase
    FROM readings_daily r
    WHERE r.day >= since AND r.day < until
    ORDER BY r.series_id, r.day;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE series_daily_folded SET folded_until = until;
    RETURN n;
END
$$;
