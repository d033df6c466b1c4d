"""The database write alone: what one batch costs PostgreSQL, series-keyed against the text-keyed baseline.

The bench's `writer` stage: the batches ingest would cut from the message set (prepared by
`ingest.prepare`, every message with its own receive time), written one after another into fresh
databases by
* ingest's own `Writer` (series-keyed tables, migration 0007),
* the baseline `LegacyWriter` (bench/legacy_writer.py: today's writer before 0007, text keys, in a
  database migrated up to 0006), on the same batches,
* a bare INSERT of the same rows into each model (the unique key, no rollups);
and a steady fleet beside that mix: every series of the set once per batch, a minute apart, the
realistic worst case for the rollups (each reading costs an hourly and a daily upsert).

Reported per variant: wall time per batch (p50/p90) and the PostgreSQL backend's CPU per reading
and per message, read from /proc when the server runs on this machine (None otherwise); and the
raw table's bytes per reading (heap, indexes and TOAST after VACUUM) of both models. Every variant
is verified: each distinct reading stored once, the rollups counting each once.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.legacy_writer import LegacyWriter
from bench.report import stat_cpu_ticks
from ingest.prepare import PreparedBatch
from ingest.series_ids import SeriesIds
from ingest.writer import Writer
from models.metrics import METRICS

_INSERT_ONLY = """
INSERT INTO series_readings (time, series_id, value)
SELECT * FROM unnest($1::timestamptz[], $2::int[], $3::float8[])
ON CONFLICT DO NOTHING
"""
_LEGACY_INSERT_ONLY = """
INSERT INTO readings (time, sensor_id, metric, value)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])
ON CONFLICT DO NOTHING
"""
_WARM_UP = 2  # batches left out of the timings (plans, caches, first chunks)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    legacy: bool  # text-keyed tables (a database migrated up to 0006)
    rollups: bool  # through a writer; else the bare INSERT


VARIANTS = (
    Variant("legacy_writer", legacy=True, rollups=True),
    Variant("writer", legacy=False, rollups=True),
    Variant("legacy_insert_only", legacy=True, rollups=False),
    Variant("insert_only", legacy=False, rollups=False),
)
STEADY_VARIANTS = VARIANTS[:2]


def _postgres_cpu_s(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # the server is elsewhere (or in another pid namespace)
    if "(postgres)" not in text:
        return None
    return stat_cpu_ticks(text) / os.sysconf("SC_CLK_TCK")


async def _backend_cpu_s(conn: asyncpg.Connection) -> float | None:
    return _postgres_cpu_s(await conn.fetchval("SELECT pg_backend_pid()"))


def steady_fleet(series: Sequence[tuple[str, str]], batches: int, start: datetime) -> list[PreparedBatch]:
    """`batches` batches of one reading per series, a minute apart: counters rise, gauges wander."""
    out = []
    for k in range(batches):
        t = start + timedelta(minutes=k)
        values = [(100.0 + 0.01 * k) if METRICS[m].cumulative else 10.0 + math.sin(k / 7 + i)
                  for i, (_, m) in enumerate(series)]
        out.append(PreparedBatch(times=[t] * len(series), sensor_ids=[s for s, _ in series],
                                 metrics=[m for _, m in series], values=values))
    return out


def _bare_insert(v: Variant, series: SeriesIds) -> Callable[[asyncpg.Connection, PreparedBatch], Any]:
    async def run(conn: asyncpg.Connection, batch: PreparedBatch) -> None:
        if v.legacy:
            await conn.execute(_LEGACY_INSERT_ONLY, batch.times, batch.sensor_ids, batch.metrics, batch.values)
            return
        await series.resolve(conn, zip(batch.sensor_ids, batch.metrics, strict=True))
        await conn.execute(_INSERT_ONLY, batch.times, series.ids(batch.sensor_ids, batch.metrics), batch.values)
    return run


async def _timed(url: str, v: Variant, batches: Sequence[PreparedBatch], messages: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        writer = (LegacyWriter if v.legacy else Writer)(pool)
        bare = _bare_insert(v, SeriesIds())
        async with pool.acquire() as conn:
            cpu0 = await _backend_cpu_s(conn)
        ms: list[float] = []
        for batch in batches:
            t0 = time.perf_counter()
            if v.rollups:
                await writer.write(batch)
            else:
                async with pool.acquire() as conn, conn.transaction():
                    await bare(conn, batch)
            ms.append((time.perf_counter() - t0) * 1000)
        async with pool.acquire() as conn:
            cpu1 = await _backend_cpu_s(conn)
    finally:
        await pool.close()
    readings = sum(len(b) for b in batches)
    timed = ms[_WARM_UP:] if len(ms) > _WARM_UP else ms
    cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    return {
        "p50_ms": round(statistics.median(timed), 1),
        "p90_ms": round(statistics.quantiles(timed, n=10)[-1], 1) if len(timed) >= 2 else round(timed[0], 1),
        "backend_cpu_us_per_reading": None if cpu is None else round(cpu / readings * 1e6, 2),
        "backend_cpu_us_per_msg": None if cpu is None else round(cpu / messages * 1e6, 1),
    }


async def _check(url: str, v: Variant, expected: int) -> dict[str, int]:
    """The stored rows (and for a writer the rollups' counts), each to equal `expected`."""
    conn = await asyncpg.connect(url)
    try:
        counts = {f"{v.name}_rows": await conn.fetchval(
            "SELECT count(*) FROM " + ("readings" if v.legacy else "series_readings"))}
        if v.rollups:
            for table in ("hourly", "daily"):
                # the view for the new model: the days not folded yet are in the hourly rows only
                name = f"readings_{table}" if v.legacy or table == "daily" else f"series_{table}"
                counts[f"{v.name}_{table}_count"] = await conn.fetchval(
                    f"SELECT coalesce(sum(count), 0)::bigint FROM {name}")
        return counts
    finally:
        await conn.close()


async def _bytes_per_reading(url: str, legacy: bool) -> dict[str, Any]:
    """The raw table's size after VACUUM (heap + indexes + TOAST, every chunk) per stored reading."""
    table = "readings" if legacy else "series_readings"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"VACUUM ANALYZE {table}")
        rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
        heap, index, toast, total = await conn.fetchrow(
            f"SELECT sum(table_bytes), sum(index_bytes), sum(toast_bytes), sum(total_bytes) "
            f"FROM hypertable_detailed_size('{table}')")
        series = 0 if legacy else await conn.fetchval("SELECT pg_total_relation_size('series')")
    finally:
        await conn.close()
    # sum() of bigints is numeric (a Decimal): plain numbers for the JSON report
    return {"rows": rows, "heap_bytes": int(heap), "index_bytes": int(index), "toast_bytes": int(toast),
            "bytes_per_reading": round(float(total) / max(rows, 1), 1), "series_table_bytes": series}


async def _run(urls: Mapping[str, str], variants: Sequence[Variant], batches: Sequence[PreparedBatch],
               messages: int) -> dict[str, Any]:
    expected = len({key for b in batches for key in zip(b.times, b.sensor_ids, b.metrics, strict=True)})
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for v in variants:
        out[v.name] = await _timed(urls[v.name], v, batches, messages)
        counts |= await _check(urls[v.name], v, expected)
    out["verification"] = {"ok": all(n == expected for n in counts.values()), "expected_rows": expected, **counts}
    new, old = out["writer"]["backend_cpu_us_per_reading"], out["legacy_writer"]["backend_cpu_us_per_reading"]
    if new is not None and old:
        out["writer_cpu_vs_legacy"] = round(new / old, 3)
    return out


async def measure(urls: Mapping[str, str], batches: Sequence[PreparedBatch], messages: int,
                  steady: Sequence[PreparedBatch]) -> dict[str, Any]:
    """`urls`: a fresh database per variant of VARIANTS (by name) and per steady variant
    (`steady_` + name); `batches` made of `messages` messages in all."""
    out: dict[str, Any] = {
        "batches": len(batches),
        "messages_per_batch": round(messages / max(len(batches), 1), 1),
        "readings_per_batch": round(statistics.fmean(len(b) for b in batches), 1),
    }
    mix = await _run(urls, VARIANTS, batches, messages)
    out |= mix
    for new, bare in (("writer", "insert_only"), ("legacy_writer", "legacy_insert_only")):
        if mix[new]["backend_cpu_us_per_reading"] and mix[bare]["backend_cpu_us_per_reading"] is not None:
            out[f"{new}_rollup_share_of_backend_cpu"] = round(
                1 - mix[bare]["backend_cpu_us_per_reading"] / mix[new]["backend_cpu_us_per_reading"], 2)
    out["storage"] = {"legacy": await _bytes_per_reading(urls["legacy_writer"], legacy=True),
                      "series": await _bytes_per_reading(urls["writer"], legacy=False)}
    steady_urls = {v.name: urls[f"steady_{v.name}"] for v in STEADY_VARIANTS}
    fleet = await _run(steady_urls, STEADY_VARIANTS, steady, sum(len(b) for b in steady))
    out["steady_fleet"] = {"batches": len(steady), "readings_per_batch": len(steady[0]) if steady else 0, **fleet}
    out["verification"] = {"ok": mix["verification"]["ok"] and fleet["verification"]["ok"],
                           "mix": mix["verification"], "steady_fleet": fleet["verification"]}
    return out
