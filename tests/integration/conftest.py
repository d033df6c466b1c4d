"""Fixtures for integration tests: a fresh migrated database per test session on the real
TimescaleDB, the real broker, and a factory for `citysense ingest` processes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from citysense.endpoints import LOCAL_DATABASE_URL, LOCAL_MQTT_URL, MqttEndpoint, parse_mqtt_url
from citysense.settings import Settings
from tests.integration.support import (
    ApiProcess,
    Broker,
    IngestProcess,
    clear_mqtt_session,
    scratch_database,
    wait_for_services,
)

SERVER_URL = os.environ.get("CITYSENSE_DATABASE_URL", LOCAL_DATABASE_URL)
EXTERNAL_MQTT = os.environ.get("CITYSENSE_MQTT_URL")
MQTT_URL = EXTERNAL_MQTT or LOCAL_MQTT_URL


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker | None]:
    """The test session's own Mosquitto, run from the shipped config on a free port, so tests
    neither feed a demo's persistent session nor depend on it. None when CITYSENSE_MQTT_URL
    names a broker to use instead."""
    if EXTERNAL_MQTT:
        yield None
        return
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def mqtt_endpoint(broker: Broker | None) -> MqttEndpoint:
    return parse_mqtt_url(broker.url if broker else MQTT_URL)


@pytest.fixture(scope="session")
def mqtt_url(mqtt_endpoint: MqttEndpoint) -> str:
    """The session broker as a CITYSENSE_MQTT_URL for the processes a test starts."""
    return EXTERNAL_MQTT or f"mqtt://{mqtt_endpoint.host}:{mqtt_endpoint.port}"


@pytest.fixture(scope="session")
async def database_url(mqtt_endpoint: MqttEndpoint) -> AsyncIterator[str]:
    """A database of its own for this test session, migrated, dropped at the end."""
    await wait_for_services(SERVER_URL, mqtt_endpoint)
    async with scratch_database(SERVER_URL, "citysense_test") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test database, emptied before the test."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE series_readings, series_hourly, series_daily, sensors, rejected_messages")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def unique() -> str:
    """A short id that keeps this test's topics and MQTT client ids apart from other tests'."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def mqtt_client() -> str:
    """Ingest's MQTT client (CITYSENSE_INGEST_MQTT_CLIENT). Modules that must hold for both
    parametrize it: `pytestmark = pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)`."""
    return os.environ.get("CITYSENSE_INGEST_MQTT_CLIENT", Settings.model_fields["ingest_mqtt_client"].default)


@pytest.fixture
def ingest_factory(
    database_url: str, mqtt_endpoint: MqttEndpoint, unique: str, tmp_path_factory: pytest.TempPathFactory,
    mqtt_client: str,
) -> Iterator[type[IngestProcess] | object]:
    """Start `citysense ingest` processes; every one still running is killed at the end, and
    their broker sessions are cleared so the broker does not queue for them forever."""
    started: list[IngestProcess] = []
    mqtt_url = f"mqtt://{mqtt_endpoint.host}:{mqtt_endpoint.port}"
    log_dir = tmp_path_factory.mktemp(f"ingest-{unique}")

    def start(topics: str, client_id: str | None = None, **env: str) -> IngestProcess:
        proc = IngestProcess(
            database_url=database_url,
            mqtt_url=mqtt_url,
            client_id=client_id or f"test-ingest-{unique}",
            topics=topics,
            log_path=log_dir / f"ingest-{len(started)}.log",
            extra_env={"CITYSENSE_INGEST_MQTT_CLIENT": mqtt_client, **env},
        )
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
    for client_id in {p.client_id for p in started}:
        asyncio.run(clear_mqtt_session(mqtt_endpoint, client_id))


@pytest.fixture
def api_server(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> Iterator[ApiProcess]:
    """`citysense api` as a real uvicorn process on a free port."""
    server = ApiProcess(database_url=database_url, mqtt_url=f"mqtt://{mqtt_endpoint.host}:{mqtt_endpoint.port}",
                        log_path=tmp_path / "api.log", extra_env={"CITYSENSE_PUBLIC_READ": "true"})
    server.start()
    yield server
    server.stop()
