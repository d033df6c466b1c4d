"""SensorThings paging benchmark (`citysense bench --stages sta`): `await run(settings)` returns a
JSON-able report.

In a database of its own (`<name>_bench_sta`) one air sensor holds a year of pm25 readings, one a
minute (525,600 rows), among 9 others reading every 10 minutes, written through ingest.writer. The
API runs as its own process (`citysense api`, as deployed: in-process, the client's parsing of
half-megabyte pages competed with the server for one event loop and doubled the figures) and a
client pages through all of that
Datastream's Observations, $top=1000, following @iot.nextLink: the time of each page end to end,
target p95 < 50 ms. Then the same with a $filter on result (a page then reads past the readings the
filter drops), and with $select=phenomenonTime,result (pages without the links, ~7x smaller: how much
of a page's time is moving its JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.api_latency import BENCH_KEY, _bench_database, _free_port, _redacted, _stats
from citysense.settings import Settings
from ingest.prepare import PreparedBatch, SensorSeen
from ingest.writer import Writer

TARGET_MS = 50.0
SENSOR = "bench:sta-0000"
PAGE = 1000


async def _fill(url: str, start: datetime, end: datetime, others: int) -> dict[str, Any]:
    """The year of readings, unless the database already holds it."""
    conn = await asyncpg.connect(url)
    try:
        have = await conn.fetchval("SELECT count(*) FROM readings WHERE sensor_id = $1 AND metric = 'pm25'", SENSOR)
    finally:
        await conn.close()
    want = int((end - start) / timedelta(minutes=1))
    if have >= want:
        return {"skipped": f"the database holds {have:,} readings of {SENSOR}"}
    rng = random.Random(7)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=600)
    t0 = time.monotonic()
    inserted = 0
    try:
        async with pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO sensors (id, source, kind, district, lat, lon) VALUES ($1, 'bench', 'air', 'Leuven', "
                "50.88, 4.70) ON CONFLICT (id) DO NOTHING", [(f"bench:sta-{i:04d}",) for i in range(others + 1)])
        writer = Writer(pool)
        day = start
        while day < end:
            batch = PreparedBatch()
            for i in range(others + 1):
                sid = f"bench:sta-{i:04d}"
                step = timedelta(minutes=1 if i == 0 else 10)
                t = day
                while t < min(day + timedelta(days=1), end):
                    batch.sensor_ids.append(sid)
                    batch.metrics.append("pm25")
                    batch.times.append(t)
                    batch.values.append(round(rng.lognormvariate(2.3, 0.6), 3))
                    t += step
                batch.sensors[sid] = SensorSeen("air", day, t - step)
            inserted += (await writer.write(batch)).inserted
            day += timedelta(days=1)
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")
    finally:
        await pool.close()
    return {"rows": inserted, "seconds": round(time.monotonic() - t0, 1)}


@contextlib.asynccontextmanager
async def _api_process(url: str) -> AsyncIterator[str]:
    port = _free_port()
    env = {**os.environ, "CITYSENSE_DATABASE_URL": url, "CITYSENSE_API_KEYS": f"{BENCH_KEY}:admin",
           "CITYSENSE_INGEST_LIVE_TOPIC": "", "CITYSENSE_STA_MAX_TOP": str(PAGE), "CITYSENSE_LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "citysense.cli", "api", "--port", str(port),
                                                env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            for _ in range(300):
                if proc.returncode is not None:
                    raise RuntimeError(f"citysense api exited with {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{base}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def _page_through(http: httpx.AsyncClient, params: dict[str, str]) -> tuple[list[float], int, int, int]:
    """Every page of the Datastream's Observations: (seconds per page, pages, observations, bytes of
    the first page)."""
    url: str | None = f"/sta/v1.1/Datastreams('{SENSOR}:pm25')/Observations"
    query: dict[str, str] | None = {"$top": str(PAGE), **params}
    samples: list[float] = []
    rows = size = 0
    while url is not None:
        t = time.perf_counter()
        r = await http.get(url, params=query)
        dt = time.perf_counter() - t
        r.raise_for_status()
        body = r.json()
        size = size or len(r.content)
        samples.append(dt)
        rows += len(body["value"])
        url, query = body.get("@iot.nextLink"), None
    return samples, len(samples), rows, size


async def run(settings: Settings, quick: bool = False) -> dict[str, Any]:
    days = 14 if quick else 365
    url = await _bench_database(settings, "bench_sta")
    end = datetime(2026, 1, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    written = await _fill(url, start, end, others=9)
    results: dict[str, Any] = {}
    async with _api_process(url) as base, httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": BENCH_KEY}, timeout=60
    ) as http:
        await _page_through(http, {"$filter": f"phenomenonTime lt {(start + timedelta(days=3)).isoformat()}"})  # warm
        for name, params in (("all", {}), ("filtered_result_gt_10", {"$filter": "result gt 10"}),
                             ("selected_time_result", {"$select": "phenomenonTime,result"})):
            samples, pages, rows, size = await _page_through(http, params)
            results[name] = {**_stats(samples, TARGET_MS), "pages": pages, "observations": rows,
                             "first_page_bytes": size}
        # A reference measured in the same run on the same busy machine: the existing raw-readings
        # endpoint, 1,000 readings (1000 minutes) of the same series per request.
        rng = random.Random(3)
        samples = []
        for _ in range(200):
            t0 = start + timedelta(minutes=rng.randrange(0, days * 1440 - PAGE))
            t = time.perf_counter()
            r = await http.get(f"/api/v1/sensors/{SENSOR}/readings", params={
                "metric": "pm25", "from": t0.isoformat(), "to": (t0 + timedelta(minutes=PAGE)).isoformat()})
            samples.append(time.perf_counter() - t)
            r.raise_for_status()
        results["reference_sensor_readings_1000"] = _stats(samples, None)
    return {
        "benchmark": "SensorThings Observations paging",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "database": _redacted(url),
        "series": {"datastream": f"{SENSOR}:pm25", "days": days, "interval": "1 min", "page": PAGE},
        "history": written,
        "latency": results,
        "targets_met": all(r["ok"] for r in results.values() if "ok" in r),  # the reference has no target
        "quick": quick,
        "notes": "times are per page, end to end over HTTP on loopback to a `citysense api` process (client and "
                 "server share the machine)",
    }
