"""Which POST each simulated event becomes with --via http: the path and headers a real sender uses, and the
topic the API derives from them is the one the event has over MQTT (so the same sensor id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.push.sources import Pushed, Source, topic_for
from citysense.api_keys import parse_api_keys
from simulators.faults import FaultConfig
from simulators.http_push import ingest_key, request_for
from simulators.plan import build_plan
from simulators.testing import sample_fleet

_SOURCES = {"/api/v1/ingest/ttn": Source.TTN, "/api/v1/ingest/chirpstack?event=up": Source.CHIRPSTACK,
            "/api/v1/ingest/sensor-community": Source.SENSOR_COMMUNITY, "/api/v1/ingest/senml": Source.SENML}


def test_http_formats_get_the_topic_they_have_over_mqtt() -> None:
    end = datetime(2026, 11, 20, tzinfo=UTC)
    plan = build_plan(sample_fleet(), end - timedelta(hours=3), end, seed=5, faults=FaultConfig(frozenset(), 0.0))
    posted = 0
    for event in plan.events:
        request = request_for(event)
        if event.format not in {"ttn", "chirpstack", "sensor-community", "senml"}:
            assert request is None, event.format
            continue
        posted += 1
        assert request is not None
        source = _SOURCES[request.path]
        pushed = Pushed(source, event.payload, x_sensor=request.headers.get("x-sensor"))
        if source is Source.SENML:  # the pack names its sensor; the topic is fixed
            assert topic_for(pushed) == "citysense/senml/http"
            assert request.headers["content-type"] == "application/senml+json"
        else:
            assert topic_for(pushed) == event.topic
            assert request.headers["content-type"] == "application/json"
    assert posted > 10


def test_the_default_key_is_the_first_ingest_key() -> None:
    keys = parse_api_keys(f"{'r' * 16}:read,{'i' * 16}:ingest,{'j' * 16}:ingest")
    assert ingest_key(keys) == "i" * 16
    assert ingest_key(parse_api_keys(f"{'a' * 16}:admin")) is None
