"""The live feed end to end: real ingest processes commit readings and republish them on the live
bus, real API processes follow it, WebSocket and SSE clients receive the latest values first,
then live readings, filtered; a client that cannot keep up is told how many it missed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import READ_KEY, Place, api_process, register, write
from tests.integration.support import ApiProcess, publish_all

READ = {"X-API-Key": READ_KEY}


def ws_url(server: ApiProcess, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/live{query}"


async def wait_subscribed(server: ApiProcess, within: float = 20) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.url) as http:
        while time.monotonic() < deadline:
            if (await http.get("/health")).json().get("live_bus") == "subscribed":
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the API did not subscribe to the live bus")


async def receive(ws: ClientConnection, n: int, within: float = 20) -> list[dict]:
    out = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(orjson.loads(await ws.recv()))
    return out


async def until_snapshot_end(ws: ClientConnection) -> list[dict]:
    out = []
    async with asyncio.timeout(10):
        while True:
            ev = orjson.loads(await ws.recv())
            if ev["type"] == "snapshot_end":
                return out
            out.append(ev)


def message(device: str, t: datetime, **readings: float) -> tuple[str, bytes]:
    return f"citysense/json/{device}", orjson.dumps({"time": t.isoformat(), "readings": readings})


@pytest.fixture
def live_topic(unique: str) -> str:
    # A topic of this test's own: other test sessions on the same broker publish on theirs.
    return f"citysense/test-live-{unique}"


@pytest.fixture
def live_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path, live_topic: str):
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_INGEST_LIVE_TOPIC=live_topic,
                         CITYSENSE_API_LIVE_QUEUE="50")
    yield server
    server.stop()


async def test_websocket_latest_then_live_filtered(
    db: asyncpg.Connection, database_url: str, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str,
    live_api: ApiProcess, live_topic: str,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write(pool, [
            (f"citysense:{unique}-air", "pm25", now - timedelta(minutes=30), 7.0),
            (f"citysense:{unique}-air", "pm25", now - timedelta(minutes=10), 8.0),
            (f"citysense:{unique}-air", "no2", now - timedelta(minutes=20), 21.0),
            (f"citysense:{unique}-meter", "power", now - timedelta(minutes=10), 500.0),
        ])
    finally:
        await pool.close()
    await register(db, {f"citysense:{unique}-air": Place("Leuven", kind="air"),
                        f"citysense:{unique}-meter": Place("Heverlee", kind="energy")})
    ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_LIVE_TOPIC=live_topic)
    await wait_subscribed(live_api)

    async with connect(ws_url(live_api, "?kind=air"), additional_headers=READ) as air, \
            connect(ws_url(live_api, "?district=Heverlee&metric=power"), additional_headers=READ) as power:
        latest = await until_snapshot_end(air)
        assert sorted((e["type"], e["metric"], e["value"]) for e in latest) == [
            ("latest", "no2", 21.0), ("latest", "pm25", 8.0)]
        assert [(e["metric"], e["value"]) for e in await until_snapshot_end(power)] == [("power", 500.0)]

        await publish_all(mqtt_endpoint, [
            message(f"{unique}-air", now, pm25=9.5),
            message(f"{unique}-meter", now, power=640.0, voltage=231.0),
            # a sensor nobody registered yet: ingest creates it (kind air, from pm25) and the API
            # must learn its kind before filtering, not drop its first readings
            message(f"{unique}-new", now, pm25=3.0),
        ])
        got = await receive(air, 2)
        assert sorted((e["sensor_id"], e["value"]) for e in got) == [
            (f"citysense:{unique}-air", 9.5), (f"citysense:{unique}-new", 3.0)]
        assert all(e["type"] == "reading" and e["unit"] == "ug/m3" for e in got)
        assert got[0]["time"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))
        got = await receive(power, 1)
        assert (got[0]["sensor_id"], got[0]["metric"], got[0]["value"]) == (f"citysense:{unique}-meter", "power", 640.0)
        with pytest.raises(TimeoutError):
            await receive(power, 1, within=1)  # voltage is filtered out

    # A slow client: one committed batch of 200 readings against a queue of 50.
    async with connect(ws_url(live_api, f"?sensor=citysense:{unique}-burst"), additional_headers=READ) as slow, \
            connect(ws_url(live_api, "?kind=air"), additional_headers=READ) as other:
        await until_snapshot_end(slow)
        await until_snapshot_end(other)
        burst = orjson.dumps([{"time": (now + timedelta(seconds=i)).isoformat(), "readings": {"co2": 400.0 + i}}
                              for i in range(200)])
        await publish_all(mqtt_endpoint, [(f"citysense/json/{unique}-burst", burst),
                                          message(f"{unique}-air", now + timedelta(seconds=1), pm25=10.5)])
        got = await receive(slow, 51)
        assert [e["value"] for e in got[:50]] == [400.0 + i for i in range(50)]
        assert got[50] == {"type": "lagged", "missed": 150}
        # the other client, same API process, missed nothing of its own
        assert [(e["type"], e["value"]) for e in await receive(other, 1)] == [("reading", 10.5)]


async def test_sse_and_auth(db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str,
                            live_api: ApiProcess, live_topic: str) -> None:
    ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_LIVE_TOPIC=live_topic)
    await wait_subscribed(live_api)
    # no key: the handshake is refused with 401 (public read is off here)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live_api)):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live_api, "?metric=smell"), additional_headers=READ):
            pass
    assert refused.value.response.status_code == 400
    async with connect(ws_url(live_api, f"?api_key={READ_KEY}")) as ws:
        assert await until_snapshot_end(ws) == []

    now = datetime.now(UTC).replace(microsecond=0)
    async with httpx.AsyncClient(base_url=live_api.url, timeout=20) as http:
        assert (await http.get("/api/v1/live/sse")).status_code == 401
        async with http.stream("GET", "/api/v1/live/sse", params={"metric": "pm10"}, headers=READ) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.aiter_lines()
            events: list[tuple[str, dict]] = []
            kind = ""
            published = False
            async with asyncio.timeout(20):
                async for line in lines:
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        events.append((kind, orjson.loads(line[6:])))
                        if kind == "snapshot_end" and not published:
                            published = True
                            await publish_all(mqtt_endpoint, [message(f"{unique}-sse", now, pm10=33.0, pm25=20.0)])
                        if kind == "reading":
                            break
    assert [k for k, _ in events] == ["snapshot_end", "reading"]
    assert (events[1][1]["metric"], events[1][1]["value"]) == ("pm10", 33.0)


async def test_several_ingest_and_api_processes(
    db: asyncpg.Connection, database_url: str, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str,
    live_topic: str, tmp_path: Path,
) -> None:
    """Two ingest replicas sharing the stream, two API processes: every client sees every reading."""
    apis = []
    for i in range(2):
        (tmp_path / str(i)).mkdir()
        apis.append(api_process(database_url, mqtt_endpoint, tmp_path / str(i), CITYSENSE_INGEST_LIVE_TOPIC=live_topic))
    try:
        for i in range(2):
            ingest_factory(topics="citysense/json/+", client_id=f"test-ingest-{unique}-{i}",
                           CITYSENSE_INGEST_SHARE_GROUP=f"g{unique}", CITYSENSE_INGEST_LIVE_TOPIC=live_topic)
        for api in apis:
            await wait_subscribed(api)
        now = datetime.now(UTC).replace(microsecond=0)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(connect(ws_url(api, "?metric=humidity"), additional_headers=READ))
                for api in apis
            ]
            for ws in clients:
                await until_snapshot_end(ws)
            n = 40
            await publish_all(mqtt_endpoint, [
                message(f"{unique}-{i % 7}", now + timedelta(seconds=i), humidity=float(i)) for i in range(n)
            ])
            for ws in clients:
                got = await receive(ws, n)
                assert sorted(e["value"] for e in got) == [float(i) for i in range(n)]
        # both replicas really took part
        rows = await db.fetchval("SELECT count(*) FROM readings WHERE metric = 'humidity'")
        assert rows == n
    finally:
        for api in apis:
            api.stop()
