"""Prometheus metrics of the ingest process, served on /metrics (CITYSENSE_INGEST_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("citysense_ingest_messages", "MQTT messages taken into a batch")
READINGS = Counter("citysense_ingest_readings", "readings inserted into the database")
DUPLICATES = Counter("citysense_ingest_duplicates", "readings already stored (redeliveries), not inserted again")
REJECTED = Counter("citysense_ingest_rejected_messages", "messages written to the dead-letter table")
DB_RETRIES = Counter("citysense_ingest_db_retries", "batch writes retried after a database error")
DROPPED_ACKS = Counter(
    "citysense_ingest_stale_acks", "acks not sent because the connection changed (the broker redelivers)"
)
BATCH_SECONDS = Histogram(
    "citysense_ingest_batch_seconds", "time to commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("citysense_ingest_queue_depth", "messages received and not yet acknowledged")
CONNECTED = Gauge("citysense_ingest_connected", "1 while connected to the MQTT broker")
HELD_PEAK = Gauge(
    "citysense_ingest_held_peak", "most messages held in memory at once (bounded by the Receive Maximum)"
)
ROOM_WAITS = Gauge(
    "citysense_ingest_room_waits", "times ingest stopped reading because Receive Maximum messages were held"
)
