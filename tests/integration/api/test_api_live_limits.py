"""Slow, silent and many live clients against the real API, broker, ingest and database: the memory
of the API stays bounded, the limits answer 429 / close 1013 with a reason and a Retry-After, a
client that reads nothing is dropped, and the API's other requests keep answering meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import READ_KEY, Place, api_process, register, write
from tests.integration.api.test_api_live import message, until_snapshot_end, wait_subscribed, ws_url
from tests.integration.api.test_api_metrics import scrape, value
from tests.integration.support import ApiProcess, publish_all

READ = {"X-API-Key": READ_KEY}


def rss_kib(proc: ApiProcess) -> int:
    assert proc.proc is not None
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def silent_client(port: int, query: str = "") -> socket.socket:
    """An SSE client that sends its request and then never reads: a tiny receive buffer, so the
    server's writes back up as soon as possible."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /api/v1/live/sse{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    return s


def status_of(s: socket.socket) -> int:
    s.settimeout(10)
    head = s.recv(4096)
    return int(head.split(b" ", 2)[1])


def closed_by_server(s: socket.socket, within: float) -> bool:
    """Read what is buffered (so call it only once the server had its chance to drop the client);
    True once the server closed the connection (EOF or reset)."""
    s.settimeout(0.5)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if not s.recv(1 << 16):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


@contextlib.contextmanager
def closing_all(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


@pytest.fixture
def public_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path, unique: str):
    """Public read on, as in `make demo`, with small limits to reach them quickly."""
    topic = f"citysense/test-live-{unique}"
    server = api_process(
        database_url, mqtt_endpoint, tmp_path, CITYSENSE_INGEST_LIVE_TOPIC=topic, CITYSENSE_PUBLIC_READ="true",
        CITYSENSE_API_LIVE_MAX_PER_ADDRESS="3", CITYSENSE_API_LIVE_MAX_CLIENTS="8",
        CITYSENSE_API_LIVE_KEYED_RESERVE="2", CITYSENSE_API_PUBLIC_RATE="30/second",
    )
    yield server, topic
    server.stop()


async def test_limits_answer_with_reason_and_retry_after(public_api: tuple[ApiProcess, str]) -> None:
    server, _ = public_api
    await wait_subscribed(server)
    with closing_all([silent_client(server.port) for _ in range(3)]) as socks:
        assert [status_of(s) for s in socks] == [200, 200, 200]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            # the fourth anonymous client from this address
            r = await http.get("/api/v1/live/sse")
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) > 0
            assert "from one address (3)" in r.json()["detail"]
            # over a WebSocket: accepted, then closed with 1013 and the reason
            async with connect(ws_url(server)) as ws:
                with pytest.raises(Exception) as closed:  # noqa: PT011 - websockets' ConnectionClosed*
                    await ws.recv()
            assert ws.close_code == 1013
            assert "from one address" in (ws.close_reason or "")
            # a key is not bound per address, and the reserve is there for it ...
            async with connect(ws_url(server), additional_headers=READ) as keyed:
                await until_snapshot_end(keyed)
                # ... and the API's other requests answer as usual
                assert (await http.get("/health")).status_code == 200
                assert (await http.get("/api/v1/sensors", headers=READ)).status_code == 200
        assert closed.value is not None
        metrics = await asyncio.to_thread(scrape, server)
        assert value(metrics, "citysense_api_live_refused_total") == 2  # the SSE 429 and the WebSocket 1013
        assert value(metrics, "citysense_api_live_clients", keyed="false") == 3
        assert value(metrics, "citysense_api_live_clients", keyed="true") == 0  # the keyed one has left
    # slots come back when clients leave
    await asyncio.sleep(0.5)
    with closing_all([silent_client(server.port)]) as again:
        assert status_of(again[0]) == 200


async def test_the_public_rate_limits_anonymous_requests_only(public_api: tuple[ApiProcess, str]) -> None:
    server, _ = public_api
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        anonymous = await asyncio.gather(*(http.get("/api/v1/sensors") for _ in range(60)))
        codes = [r.status_code for r in anonymous]
        assert codes.count(429) >= 20, codes  # 30 per second allowed, 60 sent at once
        assert set(codes) == {200, 429}
        refused = next(r for r in anonymous if r.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 1
        assert "rate limit exceeded" in refused.json()["detail"]
        keyed = await asyncio.gather(*(http.get("/api/v1/sensors", headers=READ) for _ in range(60)))
        assert {r.status_code for r in keyed} == {200}
        assert {(await http.get("/health")).status_code for _ in range(40)} == {200}


async def test_silent_clients_stay_small_and_others_still_answer(
    db: asyncpg.Connection, database_url: str, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str,
    tmp_path: Path,
) -> None:
    """120 clients that never read, on 3,000 series with live traffic: the API's memory grows by far
    less than the snapshot and queues would take if each client held its own copy."""
    now = datetime.now(UTC).replace(microsecond=0)
    sensors = [f"citysense:{unique}-{i:04d}" for i in range(1000)]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write(pool, [(s, m, now - timedelta(minutes=5), float(i))
                           for i, s in enumerate(sensors) for m in ("pm25", "pm10", "no2")])
    finally:
        await pool.close()
    await register(db, {s: Place("Leuven", kind="air") for s in sensors})
    topic = f"citysense/test-live-{unique}"
    server = api_process(
        database_url, mqtt_endpoint, tmp_path, CITYSENSE_INGEST_LIVE_TOPIC=topic, CITYSENSE_PUBLIC_READ="true",
        CITYSENSE_API_LIVE_MAX_PER_ADDRESS="1000", CITYSENSE_API_LIVE_QUEUE_BYTES="65536",
        CITYSENSE_API_LIVE_SNAPSHOT_PAGE="100", CITYSENSE_API_PUBLIC_RATE="",
    )
    try:
        ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_LIVE_TOPIC=topic)
        await wait_subscribed(server)
        async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=READ) as http:
            # one client that reads: the snapshot is complete and in key order
            async with http.stream("GET", "/api/v1/live/sse") as r:
                latest = []
                async with asyncio.timeout(20):
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            ev = orjson.loads(line[6:])
                            if ev["type"] == "snapshot_end":
                                break
                            latest.append((ev["sensor_id"], ev["metric"]))
            assert latest == sorted((s, m) for s in sensors for m in ("no2", "pm10", "pm25"))
            assert ev["series"] == 3000

            before = rss_kib(server)
            with closing_all([silent_client(server.port) for _ in range(120)]) as socks:
                await asyncio.sleep(2)
                await publish_all(mqtt_endpoint, [
                    message(f"{unique}-{i % 1000:04d}", now + timedelta(seconds=i // 1000), pm25=float(i))
                    for i in range(4000)])
                await asyncio.sleep(3)
                grown_mib = (rss_kib(server) - before) / 1024
                t0 = time.perf_counter()
                assert (await http.get("/api/v1/sensors")).status_code == 200
                assert (await http.get("/health")).status_code == 200
                took = time.perf_counter() - t0
                assert len(socks) == 120
        # Each client's own copy of the snapshot alone would be 3,000 events (~1 MiB) per client.
        assert grown_mib < 60, f"the API grew by {grown_mib:.0f} MiB for 120 silent clients"
        assert took < 5, f"other requests took {took:.1f} s beside 120 silent clients"
    finally:
        server.stop()


async def test_a_client_that_reads_nothing_is_dropped(
    database_url: str, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str, tmp_path: Path,
) -> None:
    topic = f"citysense/test-live-{unique}"
    server = api_process(
        database_url, mqtt_endpoint, tmp_path, CITYSENSE_INGEST_LIVE_TOPIC=topic, CITYSENSE_PUBLIC_READ="true",
        CITYSENSE_API_LIVE_MAX_LAG_S="2", CITYSENSE_API_LIVE_QUEUE_BYTES="16384", CITYSENSE_API_PUBLIC_RATE="",
    )
    try:
        ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_LIVE_TOPIC=topic)
        await wait_subscribed(server)
        now = datetime.now(UTC).replace(microsecond=0)
        with closing_all([silent_client(server.port)]) as (silent,):
            assert status_of(silent) == 200
            flood = [message(f"{unique}-flood", now + timedelta(milliseconds=i), pm25=float(i % 500),
                             pm10=1.0, no2=2.0, o3=3.0, temperature=4.0, humidity=5.0)
                     for i in range(6000)]
            await publish_all(mqtt_endpoint, flood[:3000])
            await asyncio.sleep(2.5)
            await publish_all(mqtt_endpoint, flood[3000:])
            await asyncio.sleep(4)  # still reading nothing: longer than CITYSENSE_API_LIVE_MAX_LAG_S
            assert await asyncio.to_thread(closed_by_server, silent, 15), "the silent client was not dropped"
        metrics = await asyncio.to_thread(scrape, server)
        # one client closed, by whichever comes first: its queue's lag or its stalled connection
        assert value(metrics, "citysense_api_live_closed_slow_total") + \
            value(metrics, "citysense_api_live_closed_stalled_total") == 1
        assert value(metrics, "citysense_api_live_dropped_total") > 0
        # the slot is free again and the feed works for the next client
        async with connect(ws_url(server), additional_headers=READ) as reader:
            await until_snapshot_end(reader)
            await publish_all(mqtt_endpoint, [message(f"{unique}-after", now + timedelta(minutes=1), pm25=42.0)])
            async with asyncio.timeout(20):
                while True:
                    ev = orjson.loads(await reader.recv())
                    if ev["type"] == "reading" and ev["sensor_id"].endswith("-after"):
                        break
            assert ev["value"] == 42.0
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/health")).status_code == 200
    finally:
        server.stop()
