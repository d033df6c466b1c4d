"""Prometheus metrics of the API, served on `GET /metrics`.

Requests are counted and timed per route template by prometheus-fastapi-instrumentator; the live
feed, the admission limits and the registry cache are read from the app's state at scrape time
(they already count for themselves), so nothing on the hot path changes for them.

Every app gets a registry of its own: the app factory runs several times in one process (tests do),
and the global registry would refuse the second set of metrics with the same names.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from api.state import AppState


class StateCollector(Collector):
    """Reads the counters of the running app; nothing is reported before its lifespan starts."""

    def __init__(self) -> None:
        self.state: AppState | None = None

    def collect(self) -> Iterable[Metric]:
        s = self.state
        if s is None:
            return
        clients = GaugeMetricFamily("citysense_api_live_clients", "live clients connected (SSE and WebSocket)",
                                    labels=["keyed"])
        clients.add_metric(["false"], s.live_slots.anonymous)
        clients.add_metric(["true"], s.live_slots.total - s.live_slots.anonymous)
        yield clients
        yield CounterMetricFamily("citysense_api_live_refused", "live clients refused by the admission limits",
                                  value=s.live_slots.refused)
        yield CounterMetricFamily("citysense_api_live_dropped", "live readings dropped for clients that lagged",
                                  value=s.hub.dropped)
        yield CounterMetricFamily("citysense_api_live_closed_slow", "live clients closed because they stayed behind",
                                  value=s.hub.closed_slow)
        yield CounterMetricFamily("citysense_api_live_closed_stalled",
                                  "live clients dropped because their connection took nothing for too long",
                                  value=s.hub.closed_stalled)
        yield CounterMetricFamily("citysense_api_rate_limited", "requests without a key refused by the rate limit",
                                  value=s.public_rate.refused)
        # -1 without a replica (like the registry age below: a value, so rules can compare it).
        up = -1.0 if s.reads.replica is None else float(not s.reads.replica_down)
        yield GaugeMetricFamily("citysense_api_read_replica_up",
                                "1 while reads go to the replica of CITYSENSE_DATABASE_READ_URL, 0 while they fall "
                                "back to the primary, -1 without a replica", value=up)
        yield CounterMetricFamily("citysense_api_read_fallbacks",
                                  "read-only requests answered by the primary because the replica was unreachable",
                                  value=s.reads.fallbacks)
        # -1 until the first load succeeded: an age of +Inf would break rate() and alert arithmetic.
        loaded = s.registry.loaded_at
        age = time.monotonic() - loaded if loaded != float("-inf") else -1.0
        yield GaugeMetricFamily("citysense_api_registry_age_seconds",
                                "age of the cached sensor registry (-1 before the first load)", value=age)


def instrument(app: FastAPI) -> StateCollector:
    """Add `/metrics` to `app`; the returned collector's `state` is set by the app's lifespan."""
    registry = CollectorRegistry()
    collector = StateCollector()
    registry.register(collector)
    Instrumentator(
        should_group_status_codes=False,  # 500 and 503 are different stories for an operator
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, metric_namespace="citysense", metric_subsystem="api").expose(
        app, include_in_schema=False)
    return collector
