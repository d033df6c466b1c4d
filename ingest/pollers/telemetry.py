"""Prometheus metrics of the pollers, served on /metrics when CITYSENSE_POLL_METRICS_PORT is set."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CALLS = Counter("citysense_poll_calls", "API calls made", ["poller", "outcome"])
RECORDS = Counter("citysense_poll_records", "records published to MQTT (PUBACK received)", ["poller"])
ERRORS = Counter("citysense_poll_errors", "failed cycles or calls (HTTP, MQTT, database)", ["poller"])
SKIPPED = Counter("citysense_poll_skipped", "records left out (indoor, or already sent)", ["poller", "reason"])
LAST_SUCCESS = Gauge("citysense_poll_last_success_timestamp_seconds", "end of the last cycle without errors",
                     ["poller"])
BACKLOG_HOURS = Gauge("citysense_poll_telraam_backlog_hours", "complete hours not yet asked for, all segments")
