"""HTTP push against the real parts: `citysense api` and `citysense ingest` as processes, a Mosquitto of this
module's own (the tests stop and start it) and TimescaleDB. What is stored is compared with what was sent."""

from __future__ import annotations

import asyncio
import base64
import math
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from simulators.faults import FaultConfig
from simulators.fleet import load_fleet
from simulators.fleet_registration import register
from simulators.http_push import HttpSink, request_for
from simulators.plan import build_plan, expected_rows
from simulators.publisher import MqttSink
from simulators.testing import fleet_toml, run_plan, sample_fleet, unique_fleet
from tests.integration.api.support import ADMIN_KEY, READ_KEY, api_process
from tests.integration.support import (
    ROOT,
    ApiProcess,
    Broker,
    IngestProcess,
    clear_mqtt_session,
    count,
    eventually,
)

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "push"
INGEST_KEY = "ingest-key-0123456789abcdef"
MAX_PAYLOAD = 8192
JSON = {"content-type": "application/json"}
Row = tuple[str, str, datetime | None, float]  # sensor, metric, time (None: the receive time), value


def _fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Push:
    path: str
    body: bytes
    headers: dict[str, str]
    rows: tuple[Row, ...]


def ttn(device: str, t: datetime, temperature: float, humidity: float, battery: float) -> Push:
    doc = _fixture("ttn-webhook-uplink.json")
    doc["end_device_ids"]["device_id"] = device
    doc["received_at"] = _iso(t)
    doc["uplink_message"]["decoded_payload"] = {"battery": battery, "humidity": humidity, "temperature": temperature}
    sid = f"ttn:{device}"
    return Push("/api/v1/ingest/ttn", orjson.dumps(doc), JSON, (
        (sid, "temperature", t, temperature), (sid, "humidity", t, humidity), (sid, "battery", t, battery)))


def chirpstack(eui: str, t: datetime, temperature: float, humidity: float) -> Push:
    doc = _fixture("chirpstack-event-up.json")
    doc["deviceInfo"]["devEui"] = eui
    doc["time"] = t.isoformat()
    doc["object"] = {"temperature": temperature, "humidity": humidity}
    sid = f"chirpstack:{eui.lower()}"
    return Push("/api/v1/ingest/chirpstack?event=up", orjson.dumps(doc), JSON,
                ((sid, "temperature", t, temperature), (sid, "humidity", t, humidity)))


def airrohr(chip: str, pm10: float, pm25: float, temperature: float, pa: float, humidity: float,
            auth: dict[str, str]) -> Push:
    doc = _fixture("airrohr-push.json")
    doc["esp8266id"] = chip
    values = {"SDS_P1": pm10, "SDS_P2": pm25, "BME280_temperature": temperature, "BME280_pressure": pa,
              "BME280_humidity": humidity}
    for item in doc["sensordatavalues"]:
        if item["value_type"] in values:
            item["value"] = f"{values[item['value_type']]:.2f}"
    sid = f"sensor.community:esp8266-{chip}"
    headers = {**JSON, "X-Sensor": f"esp8266-{chip}", "X-PIN": "1", **auth}
    return Push("/api/v1/ingest/sensor-community", orjson.dumps(doc), headers, (
        (sid, "pm10", None, pm10), (sid, "pm25", None, pm25), (sid, "temperature", None, temperature),
        (sid, "pressure", None, pa / 100), (sid, "humidity", None, humidity)))


def senml(name: str, t: datetime, voltage: float, current: float) -> Push:
    pack = _fixture("senml-pack.json")
    pack[0].update(bn=f"{name}:", bt=t.timestamp(), v=voltage)
    pack[1]["v"] = current
    sid = f"senml:{name}"
    return Push("/api/v1/ingest/senml", orjson.dumps(pack), {"content-type": "application/senml+json"},
                ((sid, "voltage", t, voltage), (sid, "current", t, current)))


def citysense_json(device: str, t: datetime, power: float, voltage: float) -> Push:
    doc = _fixture("citysense-json.json")
    doc["time"] = _iso(t)
    doc["readings"] = {"power": power, "voltage": voltage}
    sid = f"citysense:{device}"
    return Push(f"/api/v1/ingest/json/{device}", orjson.dumps(doc), JSON,
                ((sid, "power", t, power), (sid, "voltage", t, voltage)))


def _basic(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"esp8266:{key}".encode()).decode()}


@dataclass
class Stack:
    broker: Broker
    ingest: IngestProcess
    api: ApiProcess


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("push")
    broker = Broker(tmp / "mosquitto")
    broker.start()
    ingest = IngestProcess(database_url=database_url, mqtt_url=broker.url,
                           client_id=f"push-ingest-{uuid.uuid4().hex[:8]}",
                           topics="", log_path=tmp / "ingest.log")  # topics "": every format's own
    api = api_process(database_url, broker.endpoint, tmp, CITYSENSE_API_KEYS=(
        f"{READ_KEY}:read,{ADMIN_KEY}:admin,{INGEST_KEY}:ingest"),
        CITYSENSE_INGEST_MAX_PAYLOAD_BYTES=str(MAX_PAYLOAD), CITYSENSE_API_PUBLIC_RATE="3/second")
    try:
        ingest.start()
        yield Stack(broker, ingest, api)
    finally:
        api.stop()
        ingest.kill()
        asyncio.run(clear_mqtt_session(broker.endpoint, ingest.client_id))
        broker.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=30,
                                 headers={"x-api-key": INGEST_KEY}) as client:
        await _push_ready(client)
        yield client


async def _push_ready(client: httpx.AsyncClient) -> None:
    async def connected() -> bool:
        return bool((await client.get("/health")).json().get("push") == "connected")

    await eventually(connected, 30, "the API's push connection")


async def _send(client: httpx.AsyncClient, pushes: list[Push]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(16)

    async def one(p: Push) -> httpx.Response:
        async with gate:
            return await client.post(p.path, content=p.body, headers=p.headers)

    return list(await asyncio.gather(*(one(p) for p in pushes)))


async def _stored(db: asyncpg.Connection, sensors: set[str]) -> list[tuple[str, str, datetime, float]]:
    rows = await db.fetch("SELECT sensor_id, metric, time, value FROM readings WHERE sensor_id = ANY($1::text[]) "
                          "ORDER BY 1, 2, 3", list(sensors))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def _wait_rows(db: asyncpg.Connection, sensors: set[str], n: int, within: float = 30) -> None:
    async def enough() -> bool:
        return await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[])", list(sensors)) >= n

    await eventually(enough, within, f"{n} readings")


def _assert_same(got: list[tuple[str, str, datetime, float]], sent: list[Row]) -> None:
    """Every sent reading stored once, with its value; a reading without a time of its own (airrohr) got a time."""
    assert len(got) == len(sent), (len(got), len(sent))
    timed = sorted((s, m, t, v) for s, m, t, v in sent if t is not None)
    untimed = sorted((s, m, v) for s, m, t, v in sent if t is None)
    got_timed = sorted(r for r in got if (r[0], r[1], r[2]) in {(s, m, t) for s, m, t, _ in timed})
    assert [(s, m, t) for s, m, t, _ in got_timed] == [(s, m, t) for s, m, t, _ in timed]
    for (_, _, _, gv), (_, _, _, sv) in zip(got_timed, timed, strict=True):
        assert math.isclose(gv, sv, rel_tol=1e-12)
    got_untimed = sorted((s, m, v) for s, m, t, v in got if (s, m, t) not in {(a, b, c) for a, b, c, _ in got_timed})
    assert [(s, m) for s, m, _ in got_untimed] == [(s, m) for s, m, _ in untimed]
    for (_, _, gv), (_, _, sv) in zip(got_untimed, untimed, strict=True):
        assert math.isclose(gv, sv, rel_tol=1e-12)


def _fleet(tag: str, base: datetime) -> list[Push]:
    pushes: list[Push] = []
    for i in range(40):
        t = base + timedelta(seconds=i)
        pushes.append(ttn(f"eui-{tag}{i:04x}", t, -5 + i * 0.5, 40 + i * 0.25, 100 - i))
        pushes.append(chirpstack(f"24E124{tag}{i:04X}", t, 10 + i * 0.1, 50 + i * 0.1))
        pushes.append(senml(f"urn:dev:ow:{tag}{i:04x}", t, 229 + i * 0.1, 0.5 + i * 0.01))
        pushes.append(citysense_json(f"meter-{tag}-{i}", t, 100 + i, 230 + i * 0.01))
    return pushes


async def test_every_source_is_stored_exactly_once(stack: Stack, http: httpx.AsyncClient,
                                                   db: asyncpg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    timed = _fleet(tag, base)
    # airrohr stations authenticate with basic auth (all they can do), 40 of them at once: the anonymous rate
    # limit (3/s here) must not touch requests with a valid key.
    stations = [airrohr(f"{tag}{i:02d}", 1 + i, 0.5 + i, 20 + i * 0.1, 100_000 + i, 60 + i * 0.1, _basic(INGEST_KEY))
                for i in range(40)]
    pushes = timed + stations
    answers = await _send(http, pushes)
    assert [a.status_code for a in answers] == [202] * len(pushes), {a.status_code: a.text for a in answers}
    assert sum(a.json()["readings"] for a in answers) == sum(len(p.rows) for p in pushes)
    sensors = {r[0] for p in pushes for r in p.rows}
    sent = [r for p in pushes for r in p.rows]
    await _wait_rows(db, sensors, len(sent))
    _assert_same(await _stored(db, sensors), sent)

    # The same payloads again (a sender retrying after a lost answer): ingest's unique key keeps one row each.
    # airrohr pushes carry no time (each is stamped on receipt), so they are left out here.
    again = await _send(http, timed)
    assert {a.status_code for a in again} == {202}
    sentinel = citysense_json(f"sentinel-{tag}", base, 1.0, 230.0)
    assert (await http.post(sentinel.path, content=sentinel.body, headers=sentinel.headers)).status_code == 202
    await _wait_rows(db, {f"citysense:sentinel-{tag}"}, 2)
    await asyncio.sleep(1.0)  # ingest has two writers: let a batch that committed after the sentinel's land
    _assert_same(await _stored(db, sensors), sent)
    assert await count(db, "SELECT count(*) FROM rejected_messages") == 0


async def test_a_station_without_x_sensor_is_named_by_its_body(stack: Stack, http: httpx.AsyncClient,
                                                               db: asyncpg.Connection) -> None:
    p = airrohr("7654321", 3, 2, 21, 100_500, 55, {})
    headers = {k: v for k, v in p.headers.items() if k != "X-Sensor"}
    answer = await http.post(p.path, content=p.body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["topic"] == "airrohr/esp8266-7654321"
    await _wait_rows(db, {"sensor.community:esp8266-7654321"}, 5)


async def test_chirpstack_events_other_than_up_are_acknowledged_and_ignored(
        stack: Stack, http: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    join = (FIXTURES / "chirpstack-event-join.json").read_bytes()
    for event in ("join", "status", "txack", "log"):
        answer = await http.post(f"/api/v1/ingest/chirpstack?event={event}", content=join, headers=JSON)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ignored", "event": event}
    assert (await http.post("/api/v1/ingest/chirpstack", content=join, headers=JSON)).status_code == 400
    await asyncio.sleep(0.5)
    assert await count(db, "SELECT count(*) FROM readings") == 0
    assert await count(db, "SELECT count(*) FROM rejected_messages") == 0


async def test_bad_payloads_are_refused_with_the_decoders_reason_and_dead_lettered(
        stack: Stack, http: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    t = _iso(datetime.now(UTC).replace(microsecond=0))
    cases = [
        # (path, body, expected topic of the dead letter, a piece of the reason)
        ("/api/v1/ingest/json/meter-bad", orjson.dumps({"time": t, "readings": {"wattage": 3}}),
         "citysense/json/meter-bad", "unknown metric 'wattage'"),
        ("/api/v1/ingest/ttn", orjson.dumps({"end_device_ids": {"device_id": "eui-1", "application_ids": {
            "application_id": "app"}}}), "v3/app@ttn/devices/eui-1/up", "'uplink_message'"),
        ("/api/v1/ingest/ttn", b'{"uplink_message": {}}', "POST /api/v1/ingest/ttn", "no end_device_ids.device_id"),
        ("/api/v1/ingest/json/meter-future", orjson.dumps({"time": "2100-01-01T00:00:00Z", "readings": {"power": 1}}),
         "citysense/json/meter-future", "InvalidReading"),
        ("/api/v1/ingest/senml", b"[not json", "citysense/senml/http", "DecodeError"),
    ]
    for path, body, topic, reason in cases:
        answer = await http.post(path, content=body, headers=JSON)
        assert answer.status_code == 422, (path, answer.text)
        detail = answer.json()["detail"]
        assert reason in detail
        assert "\n" not in detail
        row = await db.fetchrow("SELECT topic, payload, error FROM rejected_messages WHERE payload = $1", body)
        assert row is not None, path
        assert (row["topic"], bytes(row["payload"]), row["error"]) == (topic, body, detail)
    assert await count(db, "SELECT count(*) FROM rejected_messages") == len(cases)
    assert await count(db, "SELECT count(*) FROM readings") == 0


async def test_size_content_type_and_keys(stack: Stack, http: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ok = citysense_json("meter-keys", datetime.now(UTC).replace(microsecond=0), 5.0, 231.0)
    big = orjson.dumps({"readings": {"power": 1}, "note": "x" * MAX_PAYLOAD})
    assert (await http.post(ok.path, content=big, headers=JSON)).status_code == 413
    assert (await http.post(ok.path, content=ok.body, headers={"content-type": "text/plain"})).status_code == 415
    assert (await http.post(ok.path, content=ok.body, headers={})).status_code == 415
    assert (await http.post("/api/v1/ingest/senml", content=ok.body,
                            headers={"content-type": "application/xml"})).status_code == 415
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=10) as bare:
        for headers, status in [
            ({}, 401),
            ({"x-api-key": "wrong-key-0123456789abcdef"}, 401),
            ({"x-api-key": READ_KEY}, 403),
            ({"x-api-key": ADMIN_KEY}, 403),  # admin does not imply ingest
            (_basic(READ_KEY), 403),
            ({"authorization": f"Bearer {INGEST_KEY}"}, 202),
            (_basic(INGEST_KEY), 202),
            ({"x-api-key": INGEST_KEY}, 202),
        ]:
            await asyncio.sleep(0.4)  # keyless requests share the anonymous rate limit (3/s in this module)
            answer = await bare.post(ok.path, content=ok.body, headers={**JSON, **headers})
            assert answer.status_code == status, (headers, answer.text)
        # An ingest key reads nothing.
        assert (await bare.get("/api/v1/sensors", headers={"x-api-key": INGEST_KEY})).status_code == 403
        # The anonymous limit is on (so the keyed bursts above really were exempt from it).
        codes = [(await bare.post(ok.path, content=ok.body, headers=JSON)).status_code for _ in range(10)]
        assert 429 in codes
    await _wait_rows(db, {"citysense:meter-keys"}, 2)
    assert len(await _stored(db, {"citysense:meter-keys"})) == 2  # three 202s of one payload: stored once


async def test_broker_away_is_503_with_retry_after(stack: Stack, http: httpx.AsyncClient,
                                                  db: asyncpg.Connection) -> None:
    p = citysense_json("meter-outage", datetime.now(UTC).replace(microsecond=0), 7.0, 232.0)
    stack.broker.stop()
    try:
        async def refused() -> bool:
            return (await http.post(p.path, content=p.body, headers=p.headers)).status_code == 503

        await eventually(refused, 15, "503 while the broker is down")
        answer = await http.post(p.path, content=p.body, headers=p.headers)
        assert answer.status_code == 503
        assert int(answer.headers["retry-after"]) > 0
    finally:
        stack.broker.start()
    await _push_ready(http)
    assert (await http.post(p.path, content=p.body, headers=p.headers)).status_code == 202
    await _wait_rows(db, {"citysense:meter-outage"}, 2, within=60)  # ingest reconnects with backoff too


async def test_payloads_accepted_while_ingest_is_down_are_stored_once_it_is_back(
        stack: Stack, http: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    tag = uuid.uuid4().hex[:6]
    pushes = _fleet(tag, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30))
    assert stack.ingest.terminate() == 0
    try:
        answers = await _send(http, pushes)
        assert {a.status_code for a in answers} == {202}
        await asyncio.sleep(0.5)
        sensors = {r[0] for p in pushes for r in p.rows}
        assert await _stored(db, sensors) == []
    finally:
        stack.ingest.start()
    sent = [r for p in pushes for r in p.rows]
    await _wait_rows(db, sensors, len(sent))
    await asyncio.sleep(0.5)
    _assert_same(await _stored(db, sensors), sent)


async def test_simulate_via_http_stores_the_plan_exactly(stack: Stack, http: httpx.AsyncClient,
                                                         db: asyncpg.Connection) -> None:
    """`citysense simulate --via http`'s sink: LoRaWAN, airrohr and SenML devices POST, the rest publish over
    MQTT; what is stored is what the plan says, malformed payloads are dead-lettered (by the API for those
    that came over HTTP, by ingest for the others)."""
    tag = uuid.uuid4().hex[:8]
    fleet = unique_fleet(sample_fleet(), tag)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    # The faults fall where the seed and the window (which follows the clock) put them: take the first
    # seed whose plan has a malformed payload among the pushed ones, so the test always covers a 422.
    for seed in range(11, 111):
        plan = build_plan(fleet, end - timedelta(hours=2), end, seed=seed,
                          faults=FaultConfig(frozenset({"duplicates", "malformed"}), 0.08))
        pushed = [e for e in plan.events if request_for(e) is not None]
        if any(e.malformed for e in pushed):
            break
    assert {e.format for e in pushed} >= {"ttn", "chirpstack", "sensor-community", "senml"}
    assert any(e.malformed for e in pushed)
    await register(db, fleet)
    # Ingest reads the bins' depths (for their fill level) from the registry at its first batch, then every minute.
    assert stack.ingest.terminate() == 0
    stack.ingest.start()
    sink = HttpSink(stack.api.url, INGEST_KEY, MqttSink(stack.broker.endpoint, f"sim-http-{tag}"))
    run = await run_plan(plan, stack.broker.endpoint, sink=sink)
    assert sink.answers[202] + sink.answers[422] + sink.answers[200] == len(pushed)
    assert sink.answers[422] == sum(e.malformed for e in pushed)

    timed, untimed = expected_rows(run.events)
    sensors = sorted({r.sensor_id for e in run.events for r in e.readings})
    malformed = [e for e in run.events if e.malformed]
    total = len(timed) + sum(untimed.values())

    async def arrived() -> bool:
        return (await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[])", sensors) >= total
                and await count(db, "SELECT count(*) FROM rejected_messages") >= len(malformed))

    await eventually(arrived, 90, f"{total} readings and {len(malformed)} dead letters")
    await asyncio.sleep(0.5)
    rows = await db.fetch("SELECT sensor_id, metric, time, value FROM readings WHERE sensor_id = ANY($1::text[])",
                          sensors)
    assert len(rows) == total
    stamped = [r for r in rows if (r["sensor_id"], r["metric"], r["time"]) in timed]
    assert len(stamped) == len(timed)
    for r in stamped:
        assert math.isclose(r["value"], timed[(r["sensor_id"], r["metric"], r["time"])], rel_tol=1e-12, abs_tol=1e-9)
    dead = await db.fetch("SELECT error FROM rejected_messages")
    assert len(dead) == len(malformed)
    assert all(d["error"].startswith("DecodeError") for d in dead)


async def test_simulate_via_http_with_a_refused_key_says_so(stack: Stack, http: httpx.AsyncClient) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citysense.cli", "simulate", "--via", "http", "--api-url", stack.api.url,
        "--api-key", READ_KEY, "--no-register", "--duration", "2h", "--speed", "10000", "--seed", "3",
        cwd=ROOT, env={**os.environ, "CITYSENSE_MQTT_URL": stack.broker.url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("error: the API at "), last
    assert "refused the key (HTTP 403" in last
    assert "ingest scope" in last


async def test_no_subscriber_on_the_broker_is_503_not_202(database_url: str, tmp_path: Path) -> None:
    """A broker without ingest's session drops what it is sent (PUBACK 0x10, no matching subscribers): the payload
    is not queued anywhere, so the sender must not hear 202."""
    with Broker(tmp_path / "mosquitto") as broker:
        api = api_process(database_url, broker.endpoint, tmp_path, CITYSENSE_API_KEYS=f"{INGEST_KEY}:ingest")
        try:
            async with httpx.AsyncClient(base_url=api.url, timeout=30, headers={"x-api-key": INGEST_KEY}) as client:
                await _push_ready(client)
                p = citysense_json("meter-nobody", datetime.now(UTC).replace(microsecond=0), 1.0, 230.0)
                answer = await client.post(p.path, content=p.body, headers=p.headers)
                assert answer.status_code == 503, answer.text
                assert "no subscriber" in answer.json()["detail"]
                assert int(answer.headers["retry-after"]) > 0
        finally:
            api.stop()


async def test_citysense_simulate_via_http_command(stack: Stack, http: httpx.AsyncClient, db: asyncpg.Connection,
                                                   database_url: str, tmp_path: Path) -> None:
    """The command itself: the key from CITYSENSE_API_KEYS, LoRaWAN and airrohr devices over HTTP, the rest over
    MQTT, a summary line of the HTTP answers, and the readings in the database under the MQTT sensor ids."""
    tag = uuid.uuid4().hex[:8]
    fleet = unique_fleet(load_fleet().only({"tasmota:air-vaartkom", "ttn:eui-24e124136c225103"}), tag)
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(fleet_toml(fleet))
    env = {**os.environ, "CITYSENSE_DATABASE_URL": database_url, "CITYSENSE_MQTT_URL": stack.broker.url,
           "CITYSENSE_API_KEYS": f"{READ_KEY}:read,{INGEST_KEY}:ingest"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citysense.cli", "simulate", "--via", "http", "--api-url", stack.api.url,
        "--fleet", str(fleet_file), "--seed", "5", "--speed", "3600", "--duration", "30m",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, raw_err = await asyncio.wait_for(proc.communicate(), 120)
    err = raw_err.decode()
    assert proc.returncode == 0, err
    assert f"HTTP push to {stack.api.url}" in err
    accepted = int(err.split(f"HTTP push to {stack.api.url}: 202 x", 1)[1].split()[0].rstrip(","))
    assert accepted >= 1
    ttn_id = next(s.id for s in fleet.sensors if s.id.startswith("ttn:"))
    tasmota_id = next(s.id for s in fleet.sensors if s.id.startswith("tasmota:"))
    await _wait_rows(db, {ttn_id}, 1, within=60)  # pushed over HTTP
    await _wait_rows(db, {tasmota_id}, 1, within=60)  # published over MQTT
