"""The app factory runs several times in one process (the tests do): each app has its own metrics
registry, so a second app neither fails on duplicate names nor reports the first one's requests."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from citysense.settings import Settings


def _requests_counted(text: str) -> float:
    total = 0.0
    for fam in text_string_to_metric_families(text):
        if fam.name == "citysense_api_http_requests":
            total += sum(s.value for s in fam.samples if s.name.endswith("_total"))
    return total


def test_two_apps_in_one_process_have_their_own_metrics() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    first, second = TestClient(create_app(settings)), TestClient(create_app(settings))
    for _ in range(3):
        assert first.get("/api/v1/open/nothing-here").status_code == 404
    one, two = first.get("/metrics"), second.get("/metrics")
    assert one.status_code == two.status_code == 200
    assert _requests_counted(one.text) == 3
    assert _requests_counted(two.text) == 0
