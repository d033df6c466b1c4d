"""Migration 0007 converts a populated text-keyed database in place: interrupted, it resumes; rerun,
it does nothing; every raw row and every rollup is the same after as before, and the rollups still
equal what numpy computes from the raw rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from bench.legacy_writer import LAST_VERSION, LegacyWriter
from citysense.settings import Settings
from ingest.prepare import PrepareConfig
from ingest.writer import Writer
from models.legacy_conversion import LEGACY_TABLES, convert, legacy_tables
from models.migrate import ConversionPending, apply, discover, require_current
from simulators.backfill import backfill
from simulators.testing import sample_fleet, unique_fleet
from tests.integration.conftest import SERVER_URL
from tests.integration.rollup_check import assert_rollups_exact, stored_daily_rollups, stored_rollups
from tests.integration.support import scratch_database

PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))


class Interrupted(Exception):
    pass


@pytest.fixture
async def legacy_url() -> AsyncIterator[str]:
    """A database migrated up to 0006, the last text-keyed schema."""
    async with scratch_database(SERVER_URL, "citysense_test", until=LAST_VERSION) as url:
        yield url


async def _raw(conn: asyncpg.Connection, table: str) -> dict[tuple[str, str, datetime], float]:
    rows = await conn.fetch(f"SELECT sensor_id, metric, time, value FROM {table}")
    return {(r["sensor_id"], r["metric"], r["time"]): r["value"] for r in rows}


async def test_a_backfilled_database_converts_resumably_and_keeps_every_aggregate(legacy_url: str) -> None:
    fleet = unique_fleet(sample_fleet(), uuid.uuid4().hex[:6])
    # Five days over a DST-free stretch and today: several raw chunks (1 day) to interrupt between.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    summary = await backfill(fleet, end - timedelta(days=5), end, 5, legacy_url, PREP, batch_size=900,
                             writer_type=LegacyWriter)
    assert summary.rows > 5000

    settings = Settings(database_url=legacy_url)
    conn = await asyncpg.connect(legacy_url)
    try:
        raw_before = await _raw(conn, "readings")
        hourly_before = await stored_rollups(conn)
        daily_before = await stored_daily_rollups(conn)
        assert len(raw_before) == summary.rows

        # Apply every migration (0007 and later) without the conversion, then interrupt the conversion
        # after three pieces of the raw table.
        await apply(conn, settings, until=max(m.version for m in discover()))
        assert await legacy_tables(conn) == list(LEGACY_TABLES)
        with pytest.raises(ConversionPending, match="run `citysense migrate`"):
            await require_current(conn)
        lines: list[str] = []

        def interrupt(line: str) -> None:
            lines.append(line)
            if sum(x.startswith("convert legacy_readings:") for x in lines) == 3:
                raise Interrupted(line)

        with pytest.raises(Interrupted):
            await convert(conn, interrupt)
        assert any(x.startswith("convert legacy_readings_hourly: done") for x in lines)
        assert "legacy_readings" in await legacy_tables(conn)
        # Half-way, every reading is in exactly one of the two tables.
        moved = await conn.fetchval("SELECT count(*) FROM series_readings")
        left = await conn.fetchval("SELECT count(*) FROM legacy_readings")
        assert 0 < moved < len(raw_before)
        assert moved + left == len(raw_before)

        # `citysense migrate` again: resumes, finishes, drops the legacy tables.
        await apply(conn, settings)
        assert await legacy_tables(conn) == []
        await require_current(conn)
        assert await _raw(conn, "readings") == raw_before
        assert await stored_rollups(conn) == hourly_before
        assert await stored_daily_rollups(conn) == daily_before
        assert await assert_rollups_exact(conn) == len(hourly_before)
        # Once more: nothing to do.
        assert await apply(conn, settings) == []
        assert await convert(conn) == 0
    finally:
        await conn.close()

    # The new writer continues on the converted tables: a redelivered day is stored once (the series
    # ids it caches are those the conversion created), and the rollups stay exact.
    pool: Any = await asyncpg.create_pool(legacy_url, min_size=1, max_size=2)
    try:
        again = await backfill(fleet, end - timedelta(days=1), end, 5, legacy_url, PREP, batch_size=900)
        assert again.rows == 0
        assert again.duplicates > 0
        assert await Writer(pool).known_sensors() >= {s.id for s in fleet.sensors}
    finally:
        await pool.close()
    conn = await asyncpg.connect(legacy_url)
    try:
        assert await _raw(conn, "readings") == raw_before
        await assert_rollups_exact(conn)
        assert await conn.fetchval("SELECT count(*) FROM series") == len({(s, m) for s, m, _ in raw_before})
    finally:
        await conn.close()
