-- Sensors, raw readings, hourly rollups and the dead-letter table.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE sensors (
    id          text PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'unknown'
                CHECK (kind IN ('energy', 'air', 'mobility', 'bin', 'unknown')),
    source      text NOT NULL,               -- the part of the id before the first ':'
    model       text,
    district    text CHECK (district IN ('Leuven', 'Heverlee', 'Kessel-Lo', 'Wilsele', 'Wijgmaal')),
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    private     boolean NOT NULL DEFAULT false,  -- e.g. household energy: never served raw as open data
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen  timestamptz,
    last_seen   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE readings (
    time       timestamptz      NOT NULL,
    sensor_id  text             NOT NULL,
    metric     text             NOT NULL,
    value      double precision NOT NULL,
    -- A redelivered message carries the same (sensor, metric, time): stored once.
    CONSTRAINT readings_key UNIQUE (sensor_id, metric, time)
);
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));
CREATE INDEX readings_metric_time ON readings (metric, time DESC);

-- Hourly rollups, kept exact by the writer in the same transaction as the raw insert,
-- from the rows that insert really added (duplicates never count twice).
-- `increase` is the sum of the steps between consecutive readings inside the hour,
-- a step down counting as a counter reset (the new value is what accrued since it);
-- the steps across hour edges come from first/last, so the increase over any span of
-- hours is exact. Only cumulative counters (energy_import, energy_export,
-- gas_volume) carry an increase; it is 0 for every other metric.
CREATE TABLE readings_hourly (
    bucket      timestamptz      NOT NULL,
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
    PRIMARY KEY (sensor_id, metric, bucket)
);
SELECT create_hypertable('readings_hourly', by_range('bucket', INTERVAL '30 days'));
CREATE INDEX readings_hourly_metric_bucket ON readings_hourly (metric, bucket DESC);

CREATE TABLE rejected_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text  NOT NULL,
    payload     bytea NOT NULL,
    error       text  NOT NULL
);
CREATE INDEX rejected_messages_received_at ON rejected_messages (received_at DESC);
