"""The database write alone: what one batch costs PostgreSQL, with and without the rollups.

The bench's `writer` stage: the batches ingest would cut from the message set (prepared by
`ingest.prepare`, every message with its own receive time), written one after another into a
fresh database by ingest's own `Writer`, and again into a second one by a bare INSERT of the
same rows (the unique key, no rollups). Reported per batch: wall time (p50/p90), and the
PostgreSQL backend's CPU per reading and per message, read from /proc when the server runs on
this machine (None otherwise)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.report import stat_cpu_ticks
from ingest.prepare import PreparedBatch
from ingest.writer import Writer

INSERT_ONLY = """
INSERT INTO readings (time, sensor_id, metric, value)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])
ON CONFLICT DO NOTHING
"""
_WARM_UP = 2  # batches left out of the timings (plans, caches, first chunks)


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


async def _timed(url: str, batches: Sequence[PreparedBatch], messages: int, rollups: bool) -> dict[str, Any]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        writer = Writer(pool)
        async with pool.acquire() as conn:
            cpu0 = await _backend_cpu_s(conn)
        ms: list[float] = []
        for batch in batches:
            t0 = time.perf_counter()
            if rollups:
                await writer.write(batch)
            else:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(INSERT_ONLY, batch.times, batch.sensor_ids, batch.metrics, batch.values)
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


async def _verify(full_url: str, insert_only_url: str, batches: Sequence[PreparedBatch]) -> dict[str, Any]:
    """Both databases hold every distinct reading of the batches once; the hourly rollups count them."""
    expected = len({key for b in batches for key in zip(b.times, b.sensor_ids, b.metrics, strict=True)})
    counts = {}
    for name, url in (("writer", full_url), ("insert_only", insert_only_url)):
        conn = await asyncpg.connect(url)
        try:
            counts[f"{name}_rows"] = await conn.fetchval("SELECT count(*) FROM readings")
            if name == "writer":
                for table in ("hourly", "daily"):
                    counts[f"{table}_count"] = await conn.fetchval(
                        f"SELECT coalesce(sum(count), 0)::bigint FROM readings_{table}")
        finally:
            await conn.close()
    return {"ok": all(v == expected for v in counts.values()), "expected_rows": expected, **counts}


async def measure(full_url: str, insert_only_url: str, batches: Sequence[PreparedBatch],
                  messages: int) -> dict[str, Any]:
    """`batches` made of `messages` messages in all."""
    full = await _timed(full_url, batches, messages, rollups=True)
    bare = await _timed(insert_only_url, batches, messages, rollups=False)
    out: dict[str, Any] = {
        "batches": len(batches),
        "messages_per_batch": round(messages / max(len(batches), 1), 1),
        "readings_per_batch": round(statistics.fmean(len(b) for b in batches), 1),
        "writer": full,
        "insert_only": bare,
    }
    out["verification"] = await _verify(full_url, insert_only_url, batches)
    if full["backend_cpu_us_per_reading"] and bare["backend_cpu_us_per_reading"] is not None:
        out["rollup_share_of_backend_cpu"] = round(
            1 - bare["backend_cpu_us_per_reading"] / full["backend_cpu_us_per_reading"], 2)
    return out
