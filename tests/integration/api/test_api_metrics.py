"""`GET /metrics` of a real API process: the names operators alert on exist, requests are counted
per route template (not per raw path), and the admission and live counters move with what the
test does to the API. `/metrics` itself is never rate-limited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import READ_KEY, api_process
from tests.integration.support import ApiProcess

READ = {"X-API-Key": READ_KEY}
ROUTE = "/api/v1/sensors/{sensor_id:path}/readings"  # the template as the router declares it

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: ApiProcess) -> Samples:
    r = httpx.get(f"{api.url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples named `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@pytest.fixture
def api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> Iterator[ApiProcess]:
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true",
                         CITYSENSE_API_PUBLIC_RATE="4/minute")
    yield server
    server.stop()


def test_requests_are_counted_per_route_template(api: ApiProcess) -> None:
    before = scrape(api)
    ids = ["test:metrics-a", "test:metrics-b", "test:metrics-c"]
    for sensor_id in ids:
        r = httpx.get(f"{api.url}/api/v1/sensors/{sensor_id}/readings", params={"metric": "power"}, headers=READ)
        assert r.status_code in (200, 404), r.text
    after = scrape(api)
    counted = value(after, "citysense_api_http_requests_total", handler=ROUTE) - \
        value(before, "citysense_api_http_requests_total", handler=ROUTE)
    assert counted == len(ids)
    # One series per template, none per raw path.
    assert not any(sensor_id in dict(ls).get("handler", "") for (_n, ls) in after for sensor_id in ids)
    timed = value(after, "citysense_api_http_request_duration_seconds_count", handler=ROUTE) - \
        value(before, "citysense_api_http_request_duration_seconds_count", handler=ROUTE)
    assert timed == len(ids)
    assert value(after, "citysense_api_http_request_duration_seconds_bucket", handler=ROUTE, le="+Inf") >= len(ids)


def test_rate_limit_refusals_are_counted_and_metrics_is_not_limited(api: ApiProcess) -> None:
    before = value(scrape(api), "citysense_api_rate_limited_total")
    statuses = [httpx.get(f"{api.url}/api/v1/sensors").status_code for _ in range(7)]
    refused = statuses.count(429)
    assert refused >= 3, statuses  # 4 per minute, whatever an earlier scrape took
    # Far over the anonymous limit, and still answered.
    for _ in range(10):
        scrape(api)
    after = scrape(api)
    assert value(after, "citysense_api_rate_limited_total") - before == refused
    assert value(after, "citysense_api_http_requests_total", handler="/api/v1/sensors", status="429") == refused


def test_live_clients_and_registry_age(api: ApiProcess) -> None:
    first = scrape(api)
    for name in ("citysense_api_live_dropped_total", "citysense_api_live_closed_slow_total",
                 "citysense_api_live_refused_total", "citysense_api_rate_limited_total"):
        assert (name, frozenset()) in first, name
    assert value(first, "citysense_api_live_clients") == 0
    age = value(first, "citysense_api_registry_age_seconds")
    assert 0 <= age < 60  # loaded at start, refreshed every CITYSENSE_API_REGISTRY_REFRESH_S (60 s)
    with httpx.stream("GET", f"{api.url}/api/v1/live/sse", headers={"Accept": "text/event-stream"},
                      timeout=10) as stream:
        assert stream.status_code == 200
        deadline = time.monotonic() + 10
        while value(scrape(api), "citysense_api_live_clients", keyed="false") != 1:
            assert time.monotonic() < deadline, "the live client was never counted"
            time.sleep(0.1)
        assert value(scrape(api), "citysense_api_live_clients", keyed="true") == 0
    deadline = time.monotonic() + 10
    while value(scrape(api), "citysense_api_live_clients") != 0:
        assert time.monotonic() < deadline, "the live client was never given back"
        time.sleep(0.1)
    later = value(scrape(api), "citysense_api_registry_age_seconds")
    assert later > age
