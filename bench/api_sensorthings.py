"""SensorThings paging benchmark (`citysense bench --stages sta`): `await run(settings)` returns a
JSON-able report.

In a database of its own (`<name>_bench_sta`) one air sensor holds a year of pm25 readings, one a
minute (525,600 rows), among 9 others reading every 10 minutes, written through ingest.writer. The
API runs in-process (the real app, uvicorn on loopback) and a client pages through all of that
Datastream's Observations, $top=1000, following @iot.nextLink: the time of each page end to end,
target p95 < 50 ms. Then the same with a $filter on result (a page then reads past the readings the
filter drops).
"""

from __future__ import annotations

import os
import platform
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.api_latency import BENCH_KEY, _bench_database, _redacted, _serve, _stats
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


async def _page_through(http: httpx.AsyncClient, params: dict[str, str]) -> tuple[list[float], int, int]:
    """Every page of the Datastream's Observations: (seconds per page, pages, observations)."""
    url: str | None = f"/sta/v1.1/Datastreams('{SENSOR}:pm25')/Observations"
    query: dict[str, str] | None = {"$top": str(PAGE), **params}
    samples: list[float] = []
    rows = 0
    while url is not None:
        t = time.perf_counter()
        r = await http.get(url, params=query)
        dt = time.perf_counter() - t
        r.raise_for_status()
        body = r.json()
        samples.append(dt)
        rows += len(body["value"])
        url, query = body.get("@iot.nextLink"), None
    return samples, len(samples), rows


async def run(settings: Settings, quick: bool = False) -> dict[str, Any]:
    days = 14 if quick else 365
    url = await _bench_database(settings, "bench_sta")
    end = datetime(2026, 1, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    written = await _fill(url, start, end, others=9)
    api_settings = settings.model_copy(update={"database_url": url, "api_keys": f"{BENCH_KEY}:admin",
                                               "ingest_live_topic": "", "sta_max_top": PAGE})
    results: dict[str, Any] = {}
    async with _serve(api_settings) as base, httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": BENCH_KEY}, timeout=60
    ) as http:
        await _page_through(http, {"$filter": f"phenomenonTime lt {(start + timedelta(days=3)).isoformat()}"})  # warm
        for name, params in (("all", {}), ("filtered_result_gt_10", {"$filter": "result gt 10"})):
            samples, pages, rows = await _page_through(http, params)
            results[name] = {**_stats(samples, TARGET_MS), "pages": pages, "observations": rows}
    return {
        "benchmark": "SensorThings Observations paging",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "database": _redacted(url),
        "series": {"datastream": f"{SENSOR}:pm25", "days": days, "interval": "1 min", "page": PAGE},
        "history": written,
        "latency": results,
        "targets_met": all(r["ok"] for r in results.values()),
        "quick": quick,
        "notes": "times are per page, end to end over HTTP on loopback (client and server share the machine)",
    }
