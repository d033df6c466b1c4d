-- Fleet health (docs/fleet-health.md): what ingest knows about a sensor beyond its readings.
--
-- A dead letter names the sensor whenever its topic or payload does, so health can say
-- that a sensor's payloads are being rejected (`rejecting`) or its values refused by
-- validation (`out_of_range`). NULL where nothing names one (an unknown topic, a DSMR
-- telegram too broken to read its equipment id). Nullable: older rows stay as they were.
ALTER TABLE rejected_messages ADD COLUMN IF NOT EXISTS sensor_id text;
CREATE INDEX IF NOT EXISTS rejected_messages_sensor_received
    ON rejected_messages (sensor_id, received_at DESC) WHERE sensor_id IS NOT NULL;

-- The device clock against the receive clock (`clock_skew`), one row per sensor: readings
-- keep only the device's time. Ingest writes the message with the newest device time of
-- each batch (a message buffered by a gateway carries an old device time and a fresh
-- receive time: it is a late message, not a wrong clock). Only payloads that carry their
-- own time and whose time is a moment, not the start of a counting interval, count.
CREATE TABLE IF NOT EXISTS sensor_clock (
    sensor_id   text PRIMARY KEY,
    device_time timestamptz      NOT NULL,
    received_at timestamptz      NOT NULL,
    skew_s      double precision NOT NULL  -- received_at - device_time: > 0 when the device clock is behind
);
