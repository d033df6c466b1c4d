-- Alerts (docs/fleet-health.md#alerts): rules, the state of each (rule, sensor), and the
-- notifications each transition owes, written in the transaction that changes the state, so a
-- restarted evaluator neither forgets what fired nor sends a transition twice.
CREATE TABLE IF NOT EXISTS alert_rules (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    metric     text,
    op         text CHECK (op IN ('>', '>=', '<', '<=')),
    threshold  double precision,
    "window"   double precision CHECK ("window" > 0),     -- seconds; absent: the latest value
    agg        text CHECK (agg IN ('avg', 'min', 'max', 'sum', 'count')),
    for_s      double precision NOT NULL DEFAULT 0 CHECK (for_s >= 0),
    problem    text,
    kinds      text[],
    districts  text[],
    sensors    text[],
    webhook    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((metric IS NOT NULL AND op IS NOT NULL AND threshold IS NOT NULL AND problem IS NULL)
           OR (problem IS NOT NULL AND metric IS NULL))
);

-- A row while the condition holds (pending: not yet for_s long; firing: notified). No row: quiet.
CREATE TABLE IF NOT EXISTS alert_states (
    rule_id    bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    sensor_id  text   NOT NULL,
    state      text   NOT NULL CHECK (state IN ('pending', 'firing')),
    since      timestamptz NOT NULL,
    value      double precision,
    detail     text NOT NULL DEFAULT '',
    clear_runs integer NOT NULL DEFAULT 0,  -- consecutive checks the condition was off (hysteresis)
    PRIMARY KEY (rule_id, sensor_id)
);

CREATE TABLE IF NOT EXISTS alert_notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id      bigint NOT NULL,
    sensor_id    text   NOT NULL,
    state        text   NOT NULL CHECK (state IN ('firing', 'resolved')),
    body         text   NOT NULL,  -- the exact JSON signed and sent
    webhook      text,
    webhook_done boolean NOT NULL DEFAULT false,
    mqtt_done    boolean NOT NULL DEFAULT false,
    attempts     integer NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications (next_at) WHERE NOT (webhook_done AND mqtt_done);
