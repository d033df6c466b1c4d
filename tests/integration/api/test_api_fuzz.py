"""Property-based fuzzing of every HTTP operation of the OpenAPI document with schemathesis,
against a real API process over a database with data in it: no input may produce a 5xx, and
every response must match the documented schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.app import create_app
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from tests.integration.api.support import ADMIN_KEY, api_process, write
from tests.integration.support import ApiProcess


def _seed(database_url: str) -> None:
    async def go() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        try:
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            rows = []
            for i in range(48 * 4):
                t = now - timedelta(minutes=15 * i)
                rows += [("fuzz:air-1", "pm25", t, 5.0 + i % 17), ("fuzz:meter-1", "energy_import", t, 1000 - i * 0.1),
                         ("fuzz:meter-1", "power", t, 100.0 + i), ("fuzz:bin-1", "fill_level", t, float(i % 100)),
                         ("fuzz:count-1", "bikes", t, float(i % 9))]
            await write(pool, rows)
        finally:
            await pool.close()

    # The session's event loop is not running between tests; a thread of its own keeps clear of it.
    thread = threading.Thread(target=lambda: asyncio.run(go()))
    thread.start()
    thread.join()


@pytest.fixture(scope="module")
def fuzz_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ApiProcess]:
    _seed(database_url)
    server = api_process(database_url, mqtt_endpoint, tmp_path_factory.mktemp("fuzz-api"))
    with httpx.Client(base_url=server.url, headers={"X-API-Key": ADMIN_KEY}) as http:
        http.patch("/api/v1/sensors/fuzz:air-1", json={"district": "Leuven", "lat": 50.88, "lon": 4.7})
        http.patch("/api/v1/sensors/fuzz:meter-1", json={"district": "Heverlee", "private": True})
    yield server
    server.stop()


# The document the running process serves is the one create_app() builds; building it here lets
# pytest collect one test per operation before any process runs.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    path="/api/v1/live/sse"  # streams forever
)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, fuzz_api: ApiProcess) -> None:
    case.call_and_validate(
        base_url=fuzz_api.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30,
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_live_sse_is_documented(fuzz_api: ApiProcess, tmp_path: Path) -> None:
    spec = httpx.get(f"{fuzz_api.url}/openapi.json").json()
    op = spec["paths"]["/api/v1/live/sse"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"kind", "district", "sensor", "metric"}
    assert "lagged" in op["description"]
