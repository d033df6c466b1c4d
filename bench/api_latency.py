"""API latency benchmark: `await run(settings)` returns a JSON-able report.

Works on a database of its own next to the configured one (`<name>_bench` on the same
server), so the benchmark fleet never mixes with real or demo data. When that database
does not yet hold `sensors` x `days` of history, it is backfilled first — through the
simulators (simulators.backfill: vendor payloads → ingest.prepare → ingest.writer) when
they are importable, else through ingest.writer with a simple generator of our own.

Then it starts the API in-process (uvicorn on a free loopback port, the real app and
lifespan) and times HTTP requests end to end:

* a district-by-day aggregate over the last 30 days up to the current hour (target p95 < 50 ms),
  as routed (the daily rollups for the 30 whole local days, the hourly ones for today's hours),
  and the same forced from raw readings and from the hourly rollups alone;
* one sensor's raw readings for one day (target p95 < 20 ms);
* fleet health, `GET /api/v1/sensors/health`, over 5,000 sensors with the last hours of readings
  (target p95 < 100 ms), in a database of its own (`<name>_bench_health`) so its fleet never
  changes the aggregates above, with the API following a live bus (so it judges the facts it
  keeps in memory, as deployed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import numpy as np
import uvicorn

from api.app import create_app
from bench.fleet import bench_fleet
from citysense.settings import Settings
from ingest.prepare import PreparedBatch, SensorSeen, prepare_config
from ingest.writer import Writer
from models.districts import DISTRICTS
from models.migrate import apply
from simulators.backfill import backfill

BENCH_KEY = "bench-admin-key-0123456789"
TARGETS_MS = {"district_by_day_30d": 50.0, "sensor_raw_one_day": 20.0, "sensors_health": 100.0}
HEALTH_SENSORS = 5000
HEALTH_HISTORY = timedelta(hours=6)  # what health reads (api/answers/health.py LEARNING_WINDOW)


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{host}{port}" if parts.username else host + port))


async def _bench_database(settings: Settings, suffix: str = "bench") -> str:
    base = urlsplit(settings.database_url).path.lstrip("/") or "citysense"
    name = f"{base}_{suffix}"
    admin = await asyncpg.connect(settings.database_url)
    try:
        exists = await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(settings.database_url, name)
    conn = await asyncpg.connect(url)
    try:
        await apply(conn, settings.model_copy(update={"database_url": url}))
    finally:
        await conn.close()
    return url


async def _coverage(url: str) -> tuple[int, datetime | None, datetime | None, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, min(first_seen) AS lo, max(last_seen) AS hi FROM sensors "
            "WHERE metadata ? 'bench'"
        )
        rows = await conn.fetchval("SELECT coalesce(sum(count), 0)::bigint FROM readings_hourly")
    finally:
        await conn.close()
    return int(row["n"]), row["lo"], row["hi"], int(rows)


# History --------------------------------------------------------------------------------------

async def _backfill_simulated(url: str, settings: Settings, sensors: int, start: datetime, end: datetime
                              ) -> dict[str, Any]:
    fleet = bench_fleet(sensors, {"bench": True})  # the mark _coverage counts
    summary = await backfill(fleet, start, end, 42, url, prepare_config(settings), batch_size=4000)
    return {"via": "simulators.backfill", "rows": summary.rows, "messages": summary.messages,
            "rejected_messages": summary.rejected, "seconds": round(summary.elapsed_s, 1)}


async def _backfill_generated(url: str, settings: Settings, sensors: int, start: datetime, end: datetime
                              ) -> dict[str, Any]:
    """Our own generator: a fifth each of energy meters (power, energy_import every 10 min), air
    sensors (pm25, pm10, no2 every 10 min), traffic counters (4 modes every 15 min) and bins
    (fill_level every 30 min), written through ingest.writer.Writer."""
    kinds = ("energy", "air", "mobility", "bin", "air")
    metrics = {"energy": ("power", "energy_import"), "air": ("pm25", "pm10", "no2"),
               "mobility": ("bikes", "cars", "pedestrians", "heavy_vehicles"), "bin": ("fill_level",)}
    step = {"energy": 600, "air": 600, "mobility": 900, "bin": 1800}
    rng = random.Random(42)
    ids = [f"bench:{kinds[i % 5]}-{i:04d}" for i in range(sensors)]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=600)
    t0 = time.monotonic()
    inserted = 0
    try:
        async with pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO sensors (id, source, kind, district, lat, lon, private, metadata) "
                "VALUES ($1, 'bench', $2, $3, $4, $5, $6, '{\"bench\": true}') ON CONFLICT (id) DO NOTHING",
                [(sid, kinds[i % 5], DISTRICTS[i % 5], 50.84 + rng.random() * 0.08, 4.64 + rng.random() * 0.14,
                  kinds[i % 5] == "energy" and i % 2 == 0) for i, sid in enumerate(ids)],
            )
        writer = Writer(pool)
        counters = [rng.uniform(100, 10_000) for _ in ids]
        fills = [rng.uniform(0, 80) for _ in ids]
        day = start
        while day < end:
            batch = PreparedBatch()
            rows: list[tuple[str, str, datetime, float]] = []
            for i, sid in enumerate(ids):
                kind = kinds[i % 5]
                t = day
                while t < min(day + timedelta(days=1), end):
                    for m in metrics[kind]:
                        if m == "energy_import":
                            counters[i] += rng.uniform(0, 0.3)
                            v = counters[i]
                        elif m == "fill_level":
                            fills[i] = 2.0 if fills[i] > 95 else fills[i] + rng.uniform(0, 3)
                            v = fills[i]
                        else:
                            v = rng.uniform(0, 100) if kind != "energy" else rng.uniform(50, 3000)
                        rows.append((sid, m, t, round(v, 3)))
                    t += timedelta(seconds=step[kind])
            rows.sort()
            for sid, m, t, v in rows:
                batch.sensor_ids.append(sid)
                batch.metrics.append(m)
                batch.times.append(t)
                batch.values.append(v)
                seen = batch.sensors.get(sid)
                if seen is None:
                    batch.sensors[sid] = SensorSeen(kinds[int(sid[-4:]) % 5], t, t)
                else:
                    seen.first, seen.last = min(seen.first, t), max(seen.last, t)
            inserted += (await writer.write(batch)).inserted
            day += timedelta(days=1)
    finally:
        await pool.close()
    return {"via": "bench.api_latency generator + ingest.writer", "rows": inserted,
            "seconds": round(time.monotonic() - t0, 1)}


# Timing ----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _stats(samples: list[float], target: float | None) -> dict[str, Any]:
    a = np.array(samples) * 1000
    out: dict[str, Any] = {"n": len(samples), "p50_ms": round(float(np.percentile(a, 50)), 2),
                           "p95_ms": round(float(np.percentile(a, 95)), 2),
                           "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}
    if target is not None:
        out["target_p95_ms"] = target
        out["ok"] = out["p95_ms"] < target
    return out


async def _time(http: httpx.AsyncClient, n: int, request: Callable[[int], tuple[str, dict[str, str]]]
                ) -> tuple[list[float], dict[str, str]]:
    samples: list[float] = []
    headers: dict[str, str] = {}
    for i in range(-3, n):  # three warm-up requests
        path, params = request(i)
        t = time.perf_counter()
        r = await http.get(path, params=params)
        dt = time.perf_counter() - t
        r.raise_for_status()
        if i >= 0:
            samples.append(dt)
        headers = {"source": r.headers.get("x-citysense-source", ""), "rows": str(len(r.json().get("data", [])))}
    return samples, headers


def _fixed(path: str, params: dict[str, str]) -> Callable[[int], tuple[str, dict[str, str]]]:
    return lambda _: (path, params)


async def _health_latency(settings: Settings, sensors: int, iterations: int, live: bool = True) -> dict[str, Any]:
    """GET /api/v1/sensors/health over `sensors` sensors holding the last hours of readings. The
    history is written again when it is more than an hour old (health reads only recent hours).
    `live=False`: without a live bus, so every request loads the facts from the database (the
    fallback, and what every request did before the facts were kept in memory)."""
    url = await _bench_database(settings, "bench_health")
    now = datetime.now(UTC)
    have, _, hi, _ = await _coverage(url)
    written: dict[str, Any] = {"skipped": "the health bench database holds recent readings"}
    if have < sensors or hi is None or hi < now - timedelta(hours=1):
        written = await _backfill_generated(url, settings, sensors, now - HEALTH_HISTORY, now)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    have, _, _, _ = await _coverage(url)
    # The API follows a live bus (a topic of its own on the configured broker, which nothing
    # publishes on here): with it, health judges the facts it keeps in memory (api/fleet_facts.py).
    topic = f"bench-health-{uuid.uuid4().hex[:8]}" if live else ""
    api_settings = settings.model_copy(update={"database_url": url, "api_keys": f"{BENCH_KEY}:admin",
                                               "ingest_live_topic": topic})
    async with _serve(api_settings) as base, httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": BENCH_KEY}, timeout=60
    ) as http:
        deadline = time.monotonic() + 30
        while live and (await http.get("/health")).json().get("live_bus") != "subscribed":
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not subscribe to the live bus within 30 s")
            await asyncio.sleep(0.1)
        samples, info = await _time(http, iterations, _fixed("/api/v1/sensors/health", {}))
    return {**_stats(samples, TARGETS_MS["sensors_health"] if live else None), **info, "sensors": have,
            "history": written, "live_bus": live}


async def run(settings: Settings, sensors: int = 500, days: int = 30, quick: bool = False) -> dict[str, Any]:
    if quick:
        sensors, days = min(sensors, 50), min(days, 3)
    iterations = 15 if quick else 200
    url = await _bench_database(settings)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    have, lo, hi, _ = await _coverage(url)
    backfilled: dict[str, Any] = {"skipped": "the bench database already holds the fleet"}
    if have < sensors or lo is None or hi is None or lo > start + timedelta(hours=6) or hi < end - timedelta(days=1):
        try:
            backfilled = await _backfill_simulated(url, settings, sensors, start, end)
        except (ImportError, ValueError, RuntimeError) as exc:
            backfilled = {"simulators_failed": f"{type(exc).__name__}: {exc}",
                          **await _backfill_generated(url, settings, sensors, start, end)}
        have, lo, hi, _ = await _coverage(url)
    _, _, _, rows = await _coverage(url)
    conn = await asyncpg.connect(url)
    try:
        # A freshly backfilled database is not in its steady state: autovacuum has not yet caught up
        # with the sensors table (its last_seen is rewritten by every batch) nor set the visibility map.
        await conn.execute("VACUUM ANALYZE")
        # The worst case (the metric with the most rollup rows) and a typical air-quality query.
        heaviest = await conn.fetchval(
            "SELECT metric FROM readings_hourly WHERE bucket >= $1 GROUP BY metric ORDER BY count(*) DESC LIMIT 1",
            end - timedelta(days=2),
        ) or "power"
        raw_sensors = [r["sensor_id"] for r in await conn.fetch(
            "SELECT DISTINCT sensor_id FROM readings_hourly WHERE bucket >= $1 LIMIT 200", end - timedelta(days=2))]
        tz = ZoneInfo(settings.timezone)
        today = end.astimezone(tz).date()
        midnight = datetime(today.year, today.month, today.day, tzinfo=tz)
        frm = midnight - timedelta(days=min(days, 30))
        metrics = tuple(dict.fromkeys((heaviest, "pm25")))
        hourly_rows = {m: await conn.fetchval(
            "SELECT count(*) FROM readings_hourly WHERE metric = $1 AND bucket >= $2 AND bucket < $3", m, frm, end)
            for m in metrics}
        # What the routed request reads: daily rows for the whole local days, hourly rows for today's hours.
        daily_rows = {m: await conn.fetchval(
            "SELECT (SELECT count(*) FROM readings_daily WHERE metric = $1 AND day >= $2 AND day < $3) + "
            "(SELECT count(*) FROM readings_hourly WHERE metric = $1 AND bucket >= $3 AND bucket < $4)",
            m, frm, midnight, end) for m in metrics}
    finally:
        await conn.close()
    rng = random.Random(1)

    def one_day(_: int) -> tuple[str, dict[str, str]]:
        sensor = rng.choice(raw_sensors)
        t0 = end - timedelta(days=rng.randint(1, max(1, days - 1)))
        t1 = t0 + timedelta(days=1)
        return f"/api/v1/sensors/{sensor}/readings", {"from": t0.isoformat(), "to": t1.isoformat()}

    api_settings = settings.model_copy(update={"database_url": url, "api_keys": f"{BENCH_KEY}:admin",
                                               "ingest_live_topic": ""})
    results: dict[str, Any] = {}
    async with _serve(api_settings) as base, httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": BENCH_KEY}, timeout=60
    ) as http:
        for metric in hourly_rows:
            agg = {"metric": metric, "bucket": "day", "agg": "avg", "group_by": "district",
                   "from": frm.isoformat(), "to": end.isoformat()}
            for suffix, params in (("", agg), ("_raw", {**agg, "source": "raw"}),
                                   ("_rollup", {**agg, "source": "rollup"})):
                name = f"district_by_day_30d{suffix}[{metric}]"
                n = max(5, iterations // 10) if suffix == "_raw" else iterations
                samples, info = await _time(http, n, _fixed("/api/v1/aggregates", params))
                target = TARGETS_MS["district_by_day_30d"] if not suffix else None
                read = {"rollup_rows_read": daily_rows[metric] if info["source"] == "daily" else hourly_rows[metric]}
                results[name] = {**_stats(samples, target), **info, **({} if suffix == "_raw" else read)}
        samples, info = await _time(http, iterations, one_day)
        results["sensor_raw_one_day"] = {**_stats(samples, TARGETS_MS["sensor_raw_one_day"]), **info}
    health_sensors = min(sensors, 50) if quick else HEALTH_SENSORS
    results["sensors_health"] = await _health_latency(settings, health_sensors, max(5, iterations // 4))
    # The same fleet without the live bus, for the ratio (docs/performance.md): few requests, they are slow.
    results["sensors_health_without_bus"] = await _health_latency(settings, health_sensors, 5 if quick else 20,
                                                                  live=False)

    return {
        "benchmark": "api latency",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "database": _redacted(url),
        "fleet": {"sensors": have, "days": days, "readings": rows,
                  "history": [lo.isoformat() if lo else None, hi.isoformat() if hi else None]},
        "backfill": backfilled,
        "aggregate_query": {"bucket": "day", "agg": "avg", "group_by": "district", "days": min(days, 30),
                            "metrics": list(hourly_rows)},
        "latency": results,
        "targets_met": all(r.get("ok", True) for r in results.values()),
        "quick": quick,
        "notes": "times are end to end over HTTP on loopback (client and server share the machine)",
    }


def _main() -> None:  # a convenience until `citysense bench` calls run()
    import json
    import sys

    from citysense.settings import load_settings

    quick = "--quick" in sys.argv
    report = asyncio.run(run(load_settings(), quick=quick))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    _main()
