"""Ingest against the real broker and database: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from citysense.endpoints import MqttEndpoint
from tests.integration.rollup_check import assert_rollups_exact
from tests.integration.support import ApiProcess, count, eventually, free_port, publish_all, publish_all_fast

BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def json_stream(unique: str, n: int, devices: int = 20, start: int = 0) -> list[tuple[str, bytes]]:
    """n citysense-JSON messages, 2 readings each, every (sensor, metric, time) distinct.
    The energy counter grows, with a reset every 500 steps."""
    out = []
    for i in range(start, start + n):
        device = f"{unique}-{i % devices}"
        step = i // devices
        body = {
            "time": (BASE + timedelta(seconds=10 * step)).isoformat(),
            "readings": {"power": 100.0 + (i % 97), "energy_import": float(step % 500) * 0.01 + 1.0},
        }
        out.append((f"citysense/json/{device}", orjson.dumps(body)))
    return out


async def test_end_to_end_publish_store_and_api(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str, api_server: ApiProcess
) -> None:
    ingest_factory(topics=f"citysense/json/+,citysense/senml/{unique}/#")
    senml = orjson.dumps([
        {"bn": f"urn:dev:{unique}:", "bt": BASE.timestamp(), "n": "temperature", "u": "Cel", "v": 21.5},
        {"n": "humidity", "u": "%RH", "v": 55.0, "t": 60},
    ])
    await publish_all(mqtt_endpoint, [*json_stream(unique, 10, devices=2), (f"citysense/senml/{unique}/a", senml)])

    async def all_there() -> bool:
        return await count(db, "SELECT count(*) FROM readings") == 22

    await eventually(all_there, 20, "22 readings in the database")

    async with httpx.AsyncClient(base_url=api_server.url) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        sensors = (await http.get("/api/v1/sensors")).json()["data"]
        want = {f"citysense:{unique}-0", f"citysense:{unique}-1", f"senml:urn:dev:{unique}"}
        assert {s["id"] for s in sensors} == want
        assert {s["kind"] for s in sensors if s["id"].startswith("citysense:")} == {"energy"}
        r = await http.get(f"/api/v1/sensors/senml:urn:dev:{unique}/readings")
        body = r.json()
        assert r.status_code == 200
        assert [(d["metric"], d["value"], d["unit"]) for d in body["data"]] == [
            ("temperature", 21.5, "degC"), ("humidity", 55.0, "%")]
        assert body["data"][1]["time"].startswith("2026-11-20T08:01:00")
        r = await http.get(
            f"/api/v1/sensors/citysense:{unique}-0/readings",
            params={"metric": "power", "from": BASE.isoformat(), "to": (BASE + timedelta(seconds=20)).isoformat()},
        )
        assert [d["value"] for d in r.json()["data"]] == [100.0, 102.0]  # messages 0 and 2; `to` exclusive
        assert (await http.get("/api/v1/sensors/nope:x/readings")).status_code == 404
        assert (await http.get(f"/api/v1/sensors/citysense:{unique}-0/readings?metric=smell")).status_code == 400


async def test_redelivery_stores_once_and_rollups_stay_exact(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    ingest_factory(topics="citysense/json/+")
    stream = json_stream(unique, 600, devices=3)
    # First a later stretch, then an earlier one (rows landing before stored ones), with gaps;
    # then everything again: the gaps arrive late, inside hours already rolled up, and the
    # rest are redeliveries.
    await publish_all(mqtt_endpoint, [m for i, m in enumerate(stream[300:]) if i % 7 != 3])
    await publish_all(mqtt_endpoint, [m for i, m in enumerate(stream[:300]) if i % 5 != 1])
    await publish_all(mqtt_endpoint, stream + stream[:50])

    async def settled() -> bool:
        return await count(db, "SELECT count(*) FROM readings") == 1200

    await eventually(settled, 30, "1200 readings")
    await asyncio.sleep(0.5)  # would a duplicate still arrive?
    assert await count(db, "SELECT count(*) FROM readings") == 1200
    hours = await assert_rollups_exact(db)
    assert hours >= 6


async def test_malformed_payloads_are_dead_lettered_and_stream_goes_on(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    ingest_factory(topics=f"citysense/json/+,citysense/senml/{unique}/#",
                   CITYSENSE_INGEST_MAX_PAYLOAD_BYTES="2048")
    good = json_stream(unique, 20, devices=2)
    bad = [
        (f"citysense/json/{unique}-x", b"{\"readings\": {\"power\": "),  # cut short
        (f"citysense/json/{unique}-x", b"\xff\xfe garbage"),
        (f"citysense/json/{unique}-x", orjson.dumps({"readings": {"power": "NaN"}})),
        (f"citysense/json/{unique}-x", orjson.dumps({"readings": {"voltage": 3000}})),  # out of range
        (f"citysense/json/{unique}-x", orjson.dumps({"time": "2099-01-01T00:00:00Z", "readings": {"power": 1}})),
        (f"citysense/senml/{unique}/x", b"[{\"n\": \"x\", \"v\": 1}]"),  # no unit: metric unknown
        (f"citysense/json/{unique}-x", b"{" + b" " * 4096 + b"}"),  # oversize
    ]
    await publish_all(mqtt_endpoint, good[:10] + bad + good[10:])

    async def done() -> bool:
        return (await count(db, "SELECT count(*) FROM readings") == 40
                and await count(db, "SELECT count(*) FROM rejected_messages") == len(bad))

    await eventually(done, 20, "40 readings and 7 dead letters")
    rows = await db.fetch("SELECT topic, payload, error FROM rejected_messages ORDER BY id")
    assert [bytes(r["payload"]) for r in rows] == [p for _, p in bad]
    errors = [r["error"] for r in rows]
    assert errors[0].startswith("DecodeError: invalid JSON")
    assert errors[1].startswith("DecodeError: invalid JSON")
    assert "not finite" in errors[2]
    assert errors[3].startswith("InvalidReading:")
    assert "voltage=3000 V outside" in errors[3]
    assert "in the future" in errors[4]
    assert "cannot tell the metric" in errors[5]
    assert errors[6].startswith("OversizePayload:")


async def test_sigkill_mid_stream_loses_nothing(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    stream = json_stream(unique, 20_000, devices=50)
    first = ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_BATCH_MAX_MESSAGES="500")
    publisher = asyncio.create_task(asyncio.to_thread(publish_all_fast, mqtt_endpoint, stream))

    async def some_stored() -> bool:
        return await count(db, "SELECT count(*) FROM readings") >= 8_000

    await eventually(some_stored, 60, "a part of the stream stored")
    first.kill()  # SIGKILL: no drain, whatever was in memory is gone
    stored_at_kill = await count(db, "SELECT count(*) FROM readings")
    assert stored_at_kill < 40_000, "the stream finished before the kill; the test proves nothing"
    assert await publisher == 20_000
    ingest_factory(topics="citysense/json/+")  # same client id: resumes the persistent session

    async def complete() -> bool:
        return await count(db, "SELECT count(*) FROM readings") >= 40_000

    await eventually(complete, 120, "all 40,000 readings")
    await asyncio.sleep(1.0)
    assert await count(db, "SELECT count(*) FROM readings") == 40_000
    assert await count(db, "SELECT count(DISTINCT (sensor_id, metric, time)) FROM readings") == 40_000
    await assert_rollups_exact(db)


async def test_sigterm_drains_the_batch_in_memory(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    # A long batch age keeps messages in memory; SIGTERM must commit and ack them, so a
    # second consumer on the same session receives nothing again.
    ingest = ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_BATCH_MAX_AGE_MS="60000")
    await publish_all(mqtt_endpoint, json_stream(unique, 30, devices=3))
    await asyncio.sleep(1.0)
    assert await count(db, "SELECT count(*) FROM readings") == 0  # still in memory
    assert ingest.terminate() == 0
    assert await count(db, "SELECT count(*) FROM readings") == 60
    again = ingest_factory(topics="citysense/json/+")
    await asyncio.sleep(2.0)
    assert "batch committed" not in again.log_text(), "the drained messages came back: they were not acked"


async def test_broker_restart_reconnects_and_loses_nothing(
    db: asyncpg.Connection, ingest_factory, broker, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    if broker is None:
        pytest.skip("CITYSENSE_MQTT_URL names an outside broker; this test restarts its own")
    ingest = ingest_factory(topics="citysense/json/+")
    stream = json_stream(unique, 400, devices=4)
    await publish_all(mqtt_endpoint, stream[:200])
    await eventually(lambda: _has(db, 400), 20, "the first half stored")
    broker.stop()
    await asyncio.sleep(3)  # ingest sees the broker gone and retries with backoff
    broker.start()
    ingest.wait_for_log("session resumed", timeout=40)
    await publish_all(mqtt_endpoint, stream[200:])
    await eventually(lambda: _has(db, 800), 30, "the second half stored after the broker came back")
    assert "disconnected from the broker" in ingest.log_text()


async def _has(db: asyncpg.Connection, n: int) -> bool:
    return await count(db, "SELECT count(*) FROM readings") == n


async def test_sub_sensors_inherit_their_meters_privacy_and_place(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    meter = f"citysense:{unique}-home"
    await db.execute(
        "INSERT INTO sensors (id, kind, source, district, lat, lon, private) "
        "VALUES ($1, 'energy', 'citysense', 'Wilsele', 50.91, 4.70, true)", meter)
    ingest_factory(topics="citysense/json/+")
    body = [{"sensor_id": f"{meter}:l{i}", "time": BASE.isoformat(), "readings": {"voltage": 230.0}} for i in (1, 2)]
    body.append({"sensor_id": f"citysense:{unique}-homely", "time": BASE.isoformat(), "readings": {"voltage": 230.0}})
    await publish_all(mqtt_endpoint, [(f"citysense/json/{unique}-home", orjson.dumps(body))])
    await eventually(lambda: _has(db, 3), 20, "3 readings")
    rows = {r["id"]: r for r in await db.fetch("SELECT id, district, private, kind, lat FROM sensors")}
    for phase in (f"{meter}:l1", f"{meter}:l2"):
        assert (rows[phase]["district"], rows[phase]["private"], rows[phase]["lat"]) == ("Wilsele", True, 50.91)
    # A sensor whose id merely starts with the meter's is no sub-sensor of it.
    assert (rows[f"citysense:{unique}-homely"]["district"], rows[f"citysense:{unique}-homely"]["private"]) == (
        None, False)


async def test_metrics_endpoint_counts_what_happened(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str
) -> None:
    port = free_port()
    ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_METRICS_PORT=str(port))
    await publish_all(mqtt_endpoint, [*json_stream(unique, 10, devices=2), (f"citysense/json/{unique}-x", b"nope")])
    await eventually(lambda: _has(db, 20), 20, "20 readings")
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("citysense_") and " " in line}
    assert values["citysense_ingest_readings_total"] == 20
    assert values["citysense_ingest_rejected_messages_total"] == 1
    assert values["citysense_ingest_messages_total"] == 11
    assert values["citysense_ingest_batch_seconds_count"] >= 1
    assert "citysense_ingest_queue_depth" in values


async def test_retention_drops_old_raw_chunks_and_keeps_rollups(database_url: str, db: asyncpg.Connection) -> None:
    from ingest.prepare import Inbound, PrepareConfig, prepare
    from ingest.retention import drop_old_chunks
    from ingest.writer import Writer

    now = datetime.now(UTC)
    messages = [Inbound(f"citysense/json/ret-{age}", orjson.dumps(
        {"time": (now - timedelta(days=age)).isoformat(), "readings": {"power": float(age)}}), now)
        for age in (40, 35, 2, 1)]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        batch = prepare(messages, PrepareConfig(ZoneInfo("Europe/Brussels"), 4096, timedelta(minutes=10)))
        assert (await Writer(pool).write(batch)).inserted == 4
        dropped = await drop_old_chunks(pool, days=30)
    finally:
        await pool.close()
    assert dropped >= 2
    assert sorted(r["value"] for r in await db.fetch("SELECT value FROM readings")) == [1.0, 2.0]
    assert await count(db, "SELECT count(*) FROM readings_hourly") == 4  # rollups outlive raw rows
