"""Ingest replicas meeting the same new series at the same instant agree on one id per series, and
writers racing on new series store every reading once with exact rollups."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.prepare import PreparedBatch
from ingest.series_ids import SeriesIds
from ingest.writer import Writer
from tests.integration.rollup_check import assert_rollups_exact

REPLICAS = 6


async def test_replicas_creating_the_same_series_at_once_get_one_id_each(
    db: asyncpg.Connection, database_url: str
) -> None:
    keys = [(f"race:{i}", metric) for i in range(300) for metric in ("temperature", "humidity")]
    conns = [await asyncpg.connect(database_url) for _ in range(REPLICAS)]
    try:
        caches = [SeriesIds() for _ in conns]
        # Each replica sees the keys in its own order, so their inserts interleave on the unique key.
        await asyncio.gather(*(cache.resolve(conn, keys[k::2] + keys[::-1])
                               for k, (cache, conn) in enumerate(zip(caches, conns, strict=True))))
    finally:
        for conn in conns:
            await conn.close()
    # `series` outlives the other tests' data (never truncated, as never deleted): only this test's keys.
    stored = {(r["sensor_id"], r["metric"]): r["id"]
              for r in await db.fetch("SELECT * FROM series WHERE sensor_id LIKE 'race:%'")}
    assert len(stored) == len(keys)
    for cache in caches:
        assert len(cache) == len(keys)
        assert {k: cache[k] for k in keys} == stored


def _batch(rows: list[tuple[str, str, datetime, float]]) -> PreparedBatch:
    return PreparedBatch(times=[r[2] for r in rows], sensor_ids=[r[0] for r in rows],
                         metrics=[r[1] for r in rows], values=[r[3] for r in rows])


async def test_writers_racing_on_new_series_store_each_reading_once(db: asyncpg.Connection, database_url: str) -> None:
    start = datetime(2026, 5, 4, 10, tzinfo=UTC)
    rows = [(f"racew:{s}", metric, start + timedelta(seconds=40 * k), float(k * (s + 1)))
            for s in range(40) for metric in ("energy_import", "temperature") for k in range(30)]
    pool = await asyncpg.create_pool(database_url, min_size=REPLICAS, max_size=REPLICAS)
    try:
        writers = [Writer(pool) for _ in range(REPLICAS)]
        # Every writer gets every row (a redelivery storm across replicas): each reading once in the end.
        results = await asyncio.gather(*(w.write(_batch(rows)) for w in writers))
    finally:
        await pool.close()
    assert sum(r.inserted for r in results) == len(rows)
    assert sum(r.duplicates for r in results) == len(rows) * (REPLICAS - 1)
    assert await db.fetchval("SELECT count(*) FROM series WHERE sensor_id LIKE 'racew:%'") == 80
    assert await db.fetchval("SELECT count(*) FROM readings WHERE sensor_id LIKE 'racew:%'") == len(rows)
    await assert_rollups_exact(db)
