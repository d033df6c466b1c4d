"""CITYSENSE_DATABASE_READ_URL against a real streaming replica (devenv.replica: a private primary
and a `pg_basebackup -R` hot standby): the API's read-only answers come from the replica and match
numpy over the raw rows; its writes go to the primary. Pausing the replica's WAL replay proves
where each request went: the primary has new rows and a new sensor, the API does not see them
until replay resumes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from devenv.replica import ReplicaPair
from models.migrate import apply
from tests.integration.api.support import (
    ADMIN_KEY,
    READ_KEY,
    Place,
    Row,
    api_process,
    assert_same,
    dedupe,
    expected,
    register,
    write,
)
from tests.integration.support import ApiProcess

PLACES = {
    "test:r1": Place("Leuven", 50.879, 4.701),
    "test:r2": Place("Heverlee", 50.863, 4.698),
    "test:r3": Place("Kessel-Lo", 50.888, 4.731),
}
START = datetime(2026, 11, 2, 0, tzinfo=UTC)
END = START + timedelta(days=2)
QUERY = {"metric": "pm25", "bucket": "6h", "agg": "avg", "group_by": "district",
         "from": START.isoformat(), "to": END.isoformat()}


def generate(seed: int, shift: timedelta) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for sensor in PLACES:
        t = START + shift
        while t < END:
            rows.append((sensor, "pm25", t, round(rng.lognormvariate(2.3, 0.6), 3)))
            t += timedelta(minutes=10)
    return rows


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    with ReplicaPair() as started:
        yield started


@pytest.fixture
async def primary(pair: ReplicaPair) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(pair.primary.url)
    try:
        await apply(conn, Settings(database_url=pair.primary.url))
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(pair.primary.url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def replica(pair: ReplicaPair) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pair.replica.url)
    yield conn
    await conn.execute("SELECT pg_wal_replay_resume()")
    await conn.close()


@pytest.fixture
def api(pair: ReplicaPair, primary: asyncpg.Pool, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> Iterator[ApiProcess]:
    # The live snapshot looks back far enough for the test's readings of November.
    server = api_process(pair.primary.url, mqtt_endpoint, tmp_path, CITYSENSE_DATABASE_READ_URL=pair.replica.url,
                         CITYSENSE_API_LIVE_RECENT_HOURS=str(24 * 366))
    yield server
    server.stop()


async def replayed(primary: asyncpg.Pool, replica: asyncpg.Connection) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    async with asyncio.timeout(30):
        while not await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # polling is the point: nothing tells us when WAL is replayed


def points(resp: httpx.Response) -> dict[tuple[datetime, str | None], tuple[float | None, int]]:
    assert resp.status_code == 200, resp.text
    return {(datetime.fromisoformat(d["bucket"]).astimezone(UTC), d["group"]): (d["value"], d["count"])
            for d in resp.json()["data"]}


async def latest_time(http: httpx.AsyncClient) -> datetime:
    [latest] = (await http.get("/api/v1/sensors/test:r1/latest")).json()["data"]
    return datetime.fromisoformat(latest["time"]).astimezone(UTC)


async def snapshot_time(http: httpx.AsyncClient) -> datetime:
    """The time of test:r1's pm25 in the live feed's snapshot on connect (SSE `latest` event)."""
    params = {"sensor": "test:r1", "metric": "pm25"}
    async with http.stream("GET", "/api/v1/live/sse", params=params) as resp:
        assert resp.status_code == 200
        kind = None
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "latest":
                return datetime.fromisoformat(orjson.loads(line.removeprefix("data: "))["time"])
    raise AssertionError("no latest event")


# Every other read-only route answers from a standby too (a write there would be refused: 500).
READ_ROUTES = ["/api/v1/sensors", "/api/v1/sensors.geojson", "/api/v1/map", "/api/v1/sensors/test:r1",
               "/api/v1/sensors/test:r1/readings", "/api/v1/sensors/health", "/api/v1/policy/mobility",
               "/api/v1/policy/cleanliness", "/api/v1/policy/energy", "/api/v1/policy/air-quality",
               f"/api/v1/open/aggregates?metric=pm25&from={START.isoformat()}&to={END.isoformat()}".replace("+", "%2B")]


async def test_reads_come_from_the_replica_and_writes_go_to_the_primary(
    primary: asyncpg.Pool, replica: asyncpg.Connection, api: ApiProcess,
) -> None:
    assert await replica.fetchval("SELECT pg_is_in_recovery()")  # a real standby
    assert not await primary.fetchval("SELECT pg_is_in_recovery()")
    group_of = {s: p.district for s, p in PLACES.items()}
    first = generate(1, timedelta(0))
    async with primary.acquire() as conn:
        await register(conn, PLACES)
    await write(primary, first)
    await replayed(primary, replica)

    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": READ_KEY}, timeout=30) as http:
        assert (await http.get("/health")).json()["status"] == "ok"
        assert_same(points(await http.get("/api/v1/aggregates", params=QUERY)),
                    expected(first, "pm25", "avg", "6h", group_of, START, END), "replayed")

        await replica.execute("SELECT pg_wal_replay_pause()")
        second = generate(2, timedelta(minutes=5))  # new times between the first rows'
        assert await write(primary, second) == len(second)
        both = dedupe(first + second)
        assert expected(both, "pm25", "avg", "6h", group_of, START, END) != \
            expected(first, "pm25", "avg", "6h", group_of, START, END)
        # A write through the API lands on the primary (a standby would refuse it as read-only)...
        created = await http.post("/api/v1/sensors", headers={"X-API-Key": ADMIN_KEY},
                                  json={"id": "test:r4", "kind": "air", "district": "Wilsele"})
        assert created.status_code == 201, created.text
        assert await primary.fetchval("SELECT count(*) FROM sensors WHERE id = 'test:r4'") == 1
        # ...while the reads still see the replica as it was when replay stopped.
        assert (await http.get("/api/v1/sensors/test:r4")).status_code == 404
        assert_same(points(await http.get("/api/v1/aggregates", params=QUERY)),
                    expected(first, "pm25", "avg", "6h", group_of, START, END), "replay paused")
        assert await latest_time(http) == max(r[2] for r in first if r[0] == "test:r1")
        assert await snapshot_time(http) == max(r[2] for r in first if r[0] == "test:r1")
        for route in READ_ROUTES:
            assert (await http.get(route)).status_code == 200, route

        await replica.execute("SELECT pg_wal_replay_resume()")
        await replayed(primary, replica)
        assert (await http.get("/api/v1/sensors/test:r4")).status_code == 200
        assert_same(points(await http.get("/api/v1/aggregates", params=QUERY)),
                    expected(both, "pm25", "avg", "6h", group_of, START, END), "replay resumed")
        assert await latest_time(http) == max(r[2] for r in both if r[0] == "test:r1")
        assert await snapshot_time(http) == max(r[2] for r in both if r[0] == "test:r1")


async def test_an_unreachable_replica_sends_the_reads_to_the_primary_until_it_is_back(
    pair: ReplicaPair, primary: asyncpg.Pool, api: ApiProcess,
) -> None:
    group_of = {s: p.district for s, p in PLACES.items()}
    rows = generate(3, timedelta(minutes=3))
    async with primary.acquire() as conn:
        await register(conn, PLACES)
    await write(primary, rows)
    stored: list[Row] = [(r["sensor_id"], r["metric"], r["time"], r["value"]) for r in await primary.fetch(
        "SELECT sensor_id, metric, time, value FROM readings WHERE metric = 'pm25'")]  # the earlier test's too
    want = expected(stored, "pm25", "avg", "6h", group_of, START, END)
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": READ_KEY}, timeout=30) as http:
        assert (await http.get("/health")).json()["read_replica"] == "ok"
        pair.stop_replica()
        try:
            # The first read after it went may be the one that finds its pooled connection dead (500);
            # from then on every read is answered, by the primary, with the primary's rows.
            await http.get("/api/v1/sensors")
            for _ in range(3):
                assert_same(points(await http.get("/api/v1/aggregates", params=QUERY)), want, "replica down")
            for route in READ_ROUTES:
                assert (await http.get(route)).status_code == 200, route
            health = await http.get("/health")
            assert health.status_code == 200  # the primary answers
            assert health.json()["read_replica"].startswith("unreachable: "), health.json()
            metrics = (await http.get("/metrics")).text
            assert "citysense_api_read_replica_up 0.0" in metrics
            fallbacks = next(float(line.split()[-1]) for line in metrics.splitlines()
                             if line.startswith("citysense_api_read_fallbacks_total"))
            assert fallbacks >= 3 + len(READ_ROUTES)
        finally:
            pair.start_replica()
        # /health asks the replica itself: once it answers, the reads go back to it. Paused replay
        # proves it: a sensor written to the primary now is not seen by the reads.
        async with asyncio.timeout(30):
            while (await http.get("/health")).json()["read_replica"] != "ok":  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        replica = await asyncpg.connect(pair.replica.url)
        try:
            await replica.execute("SELECT pg_wal_replay_pause()")
            async with primary.acquire() as conn:
                await register(conn, {"test:r5": Place("Wilsele", 50.90, 4.70)})
            assert (await http.get("/api/v1/sensors/test:r5")).status_code == 404
            await replica.execute("SELECT pg_wal_replay_resume()")
            await replayed(primary, replica)
            assert (await http.get("/api/v1/sensors/test:r5")).status_code == 200
        finally:
            await replica.execute("SELECT pg_wal_replay_resume()")
            await replica.close()
        assert "citysense_api_read_replica_up 1.0" in (await http.get("/metrics")).text
