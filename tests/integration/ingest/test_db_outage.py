"""The database stopped for 10 s in the middle of a stream: ingest waits, retries, and loses nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import asyncpg
import pytest

from citysense.endpoints import MqttEndpoint
from tests.integration.ingest.test_ingest import json_stream
from tests.integration.rollup_check import assert_rollups_exact
from tests.integration.support import MQTT_CLIENTS, ROOT, count, eventually, publish_all_fast

pytestmark = [
    pytest.mark.skipif(
        bool(os.environ.get("CITYSENSE_DATABASE_URL")),
        reason="stops the database: only done to the local one of `citysense services`",
    ),
    pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS),
]


def _services(action: str) -> None:
    subprocess.run([sys.executable, "-m", "citysense.cli", "services", action, "--only", "postgres"],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)


def _publish_steadily(mqtt: MqttEndpoint, messages: list[tuple[str, bytes]], seconds: float) -> None:
    chunk = 100
    pause = seconds / (len(messages) / chunk)
    for lo in range(0, len(messages), chunk):
        publish_all_fast(mqtt, messages[lo:lo + chunk])
        time.sleep(pause)


async def test_database_outage_loses_nothing(
    database_url: str, db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    ingest = ingest_factory(topics="citysense/json/+")
    stream = json_stream(unique, 6000, devices=30)
    publisher = asyncio.create_task(asyncio.to_thread(_publish_steadily, mqtt_endpoint, stream, 20.0))
    await asyncio.sleep(4)
    await asyncio.to_thread(_services, "down")
    try:
        await asyncio.sleep(10)
    finally:
        await asyncio.to_thread(_services, "up")
    await publisher
    conn = await asyncpg.connect(database_url)
    try:
        async def complete() -> bool:
            return await count(conn, "SELECT count(*) FROM readings") >= 12_000

        await eventually(complete, 90, "all 12,000 readings after the outage")
        await asyncio.sleep(1)
        assert await count(conn, "SELECT count(*) FROM readings") == 12_000
        await assert_rollups_exact(conn)
    finally:
        await conn.close()
    assert "database write failed" in ingest.log_text(), "the outage was not noticed: the test proved nothing"
