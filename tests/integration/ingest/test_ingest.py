"""Ingest against the real broker and database: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from citysense.endpoints import MqttEndpoint
from ingest.prepare import PreparedBatch, SensorSeen
from ingest.writer import Writer
from tests.integration.rollup_check import assert_daily_exact, assert_rollups_exact
from tests.integration.support import (
    MQTT_CLIENTS,
    ApiProcess,
    count,
    eventually,
    free_port,
    publish_all,
    publish_all_fast,
)

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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
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
    from ingest.retention import LOCK_KEY, drop_old_chunks

    now = datetime.now(UTC)
    messages = [Inbound(f"citysense/json/ret-{age}", orjson.dumps(
        {"time": (now - timedelta(days=age)).isoformat(), "readings": {"power": float(age)}}), now)
        for age in (40, 35, 2, 1)]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        batch = prepare(messages, PrepareConfig(ZoneInfo("Europe/Brussels"), 4096, timedelta(minutes=10)))
        assert (await Writer(pool).write(batch)).inserted == 4
        # Another replica enforcing retention at this moment: this one leaves it alone.
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            assert await drop_old_chunks(pool, days=30) is None
        assert await count(db, "SELECT count(*) FROM readings") == 4
        dropped = await drop_old_chunks(pool, days=30)
    finally:
        await pool.close()
    assert dropped is not None
    assert dropped >= 2
    assert sorted(r["value"] for r in await db.fetch("SELECT value FROM readings")) == [1.0, 2.0]
    assert await count(db, "SELECT count(*) FROM readings_hourly") == 4  # rollups outlive raw rows
    assert await count(db, "SELECT count(*) FROM readings_daily") == 4


# The writer's rollups, hourly and daily, in the orders ingest can meet --------------------------

def _meter_rows(seed: int) -> list[tuple[str, str, datetime, float]]:
    """Two sensors around both DST changes of 2026 in Brussels (29 March: 23 h, 25 October: 25 h):
    a counter with resets and a plain metric, a reading every 2-15 minutes."""
    rng = random.Random(seed)
    rows = []
    for lo, hi in ((datetime(2026, 3, 27, 21, tzinfo=UTC), datetime(2026, 3, 30, 3, tzinfo=UTC)),
                   (datetime(2026, 10, 24, 20, tzinfo=UTC), datetime(2026, 10, 26, 2, tzinfo=UTC))):
        for sensor in ("citysense:w1", "citysense:w2"):
            t, counter = lo + timedelta(seconds=rng.randrange(600)), rng.uniform(10, 100)
            while t < hi:
                counter = rng.uniform(0, 0.5) if rng.random() < 0.01 else counter + rng.uniform(0, 0.4)
                rows.append((sensor, "energy_import", t, round(counter, 6)))
                rows.append((sensor, "power", t, round(rng.uniform(0, 3000), 3)))
                t += timedelta(seconds=rng.randrange(120, 900), microseconds=rng.randrange(10**6))
    return rows


def _batch(rows: list[tuple[str, str, datetime, float]]) -> PreparedBatch:
    batch = PreparedBatch()
    for sensor, metric, t, v in rows:
        batch.sensor_ids.append(sensor)
        batch.metrics.append(metric)
        batch.times.append(t)
        batch.values.append(v)
        seen = batch.sensors.setdefault(sensor, SensorSeen("energy", t, t))
        seen.first, seen.last = min(seen.first, t), max(seen.last, t)
    return batch


async def test_writer_keeps_hourly_and_daily_rollups_exact(database_url: str, db: asyncpg.Connection) -> None:
    """Batches in time order, then backwards, then late data with redeliveries, then two writers
    interleaving the same series at once; after each stage the rollups are compared with numpy
    over the raw rows. At the end the daily table is rebuilt the way migration 0002 fills an
    existing database, and compared again."""
    rng = random.Random(11)
    rows = _meter_rows(3)
    rng.shuffle(rows)
    early, late = rows[: len(rows) * 2 // 3], rows[len(rows) * 2 // 3:]
    early.sort(key=lambda r: r[2])
    older, newer = early[: len(early) // 2], early[len(early) // 2:]
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    try:
        writer = Writer(pool)
        # Each batch wholly after what is stored (hours and days grow at their end), then wholly
        # before it (they grow at their start): the merges alone, no recount.
        merged = [await writer.write(_batch(newer[i:i + 40])) for i in range(0, len(newer), 40)]
        merged += [await writer.write(_batch(older[max(0, i - 40):i])) for i in range(len(older), 0, -40)]
        assert sum(r.recounted_days + r.recounted_hours for r in merged) == 0
        assert sum(r.inserted for r in merged) == len(early)
        await assert_rollups_exact(db)

        # Late data landing inside stored hours and days, mixed with redeliveries, in random batches.
        redelivered = rng.sample(early, 300)
        mixed = late[: len(late) // 2] + redelivered
        rng.shuffle(mixed)
        results = [await writer.write(_batch(mixed[i:i + 70])) for i in range(0, len(mixed), 70)]
        assert sum(r.duplicates for r in results) == len(redelivered)
        assert sum(r.recounted_days for r in results) > 0, "the recount path was not exercised"
        await assert_rollups_exact(db)

        # Two writers at once (replicas on a shared subscription), alternate readings of the same series.
        rest = sorted(late[len(late) // 2:], key=lambda r: r[2])

        async def stream(part: list[tuple[str, str, datetime, float]]) -> None:
            w = Writer(pool)
            for i in range(0, len(part), 25):
                results.append(await w.write(_batch(part[i:i + 25])))

        await asyncio.gather(stream(rest[0::2]), stream(rest[1::2]))
    finally:
        await pool.close()

    assert sum(r.inserted for r in merged + results) == len(rows)
    await assert_rollups_exact(db)
    stored = await db.fetch("SELECT * FROM readings_daily ORDER BY sensor_id, metric, day")
    local_days = {r["day"].astimezone(ZoneInfo("Europe/Brussels")).date() for r in stored}
    assert {datetime(2026, 3, 29).date(), datetime(2026, 10, 25).date()} <= local_days

    rebuilt = await db.fetchval("SELECT rebuild_readings_daily()")
    assert rebuilt == len(stored)
    await assert_daily_exact(db)
