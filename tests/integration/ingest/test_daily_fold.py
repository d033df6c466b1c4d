"""The daily rollups of days not folded yet come from their hours; folding writes them, moves the
boundary, and late data, a fold racing the writers and a rebuild all keep readings_daily exact
(compared with numpy over the raw rows)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from ingest.daily_fold import fold_finished_days
from ingest.prepare import PreparedBatch
from ingest.writer import Writer
from tests.integration.rollup_check import assert_daily_exact, assert_rollups_exact

BRUSSELS = ZoneInfo("Europe/Brussels")
SENSORS = [f"fold:{i}" for i in range(6)]


def _rows(start: datetime, hours: int, rng: random.Random) -> list[tuple[str, str, datetime, float]]:
    """A meter's counter (with a reset) and a gauge, every 10 minutes."""
    out = []
    for s in SENSORS:
        counter = 100.0
        for k in range(hours * 6):
            t = start + timedelta(minutes=10 * k)
            counter = 0.5 if k == 40 else counter + rng.random()
            out += [(s, "energy_import", t, counter), (s, "temperature", t, 15 + rng.random())]
    return out


def _batches(rows: list[tuple[str, str, datetime, float]], size: int) -> list[PreparedBatch]:
    return [PreparedBatch(times=[r[2] for r in part], sensor_ids=[r[0] for r in part],
                          metrics=[r[1] for r in part], values=[r[3] for r in part])
            for part in (rows[i:i + size] for i in range(0, len(rows), size))]


async def _boundary(db: asyncpg.Connection) -> datetime:
    value: datetime = await db.fetchval("SELECT folded_until FROM series_daily_folded")
    return value


async def test_days_fold_once_over_and_stay_exact(db: asyncpg.Connection, database_url: str) -> None:
    rng = random.Random(7)
    # Three local days around the spring DST change (29 March 2026 has 23 hours), none folded yet.
    start = datetime(2026, 3, 28, tzinfo=BRUSSELS).astimezone(UTC)
    await db.execute("UPDATE series_daily_folded SET folded_until = $1", start)
    rows = _rows(start, 70, rng)
    rng.shuffle(rows)  # interleaved within hours: recounts of the hourly increase
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    try:
        writer = Writer(pool)
        first, rest = rows[:len(rows) // 2], rows[len(rows) // 2:]
        for batch in _batches(first, 300):
            await writer.write(batch)
        assert await db.fetchval("SELECT count(*) FROM series_daily") == 0  # nothing folded: from the hours
        days = await assert_daily_exact(db)
        assert days == len(SENSORS) * 2 * 3

        # A fold racing two writers that carry the rest of the rows (late ones included).
        async def write(part: list[tuple[str, str, datetime, float]]) -> None:
            w = Writer(pool)
            for batch in _batches(part, 200):
                await w.write(batch)

        folded, *_ = await asyncio.gather(fold_finished_days(pool), write(rest[0::2]), write(rest[1::2]))
        assert folded is not None
        today = datetime.now(BRUSSELS).replace(hour=0, minute=0, second=0, microsecond=0)
        assert await _boundary(db) == today
        assert await db.fetchval("SELECT count(*) FROM series_daily") == days
        await assert_rollups_exact(db)

        # Late data into a folded day merges into its row.
        late = _rows(start + timedelta(hours=30, minutes=5), 2, rng)
        for batch in _batches(late, 100):
            await writer.write(batch)
        await assert_rollups_exact(db)
        # Folding again has nothing to do; a rebuild refolds everything.
        assert await fold_finished_days(pool) == 0
        assert await db.fetchval("SELECT rebuild_readings_daily()") == days
        await assert_daily_exact(db)
    finally:
        await pool.close()
