"""The in-place conversion of a populated database to the series-keyed model (migration 0007).

0007 renames the text-keyed tables to `legacy_readings`, `legacy_readings_hourly` and
`legacy_readings_daily`; this step, run by `citysense migrate` after the SQL migrations, moves
their rows into `series_readings`, `series_hourly` and `series_daily`. One transaction per piece
(a chunk of a hypertable, a range of days of the daily table) copies the piece and removes it
from the legacy table, so an interrupted run loses nothing and doubles nothing: rerun, it goes
on with what is left. When nothing is left the legacy tables are dropped. Progress goes to the
log (`citysense.migrate`), one line per piece.

Ingest and the API refuse to start while legacy tables exist (models.migrate.require_current):
no writer can store a reading whose duplicate still lies in a legacy table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

log = logging.getLogger("citysense.migrate")

# The rollups first: small, and done in seconds; then the raw rows, chunk by chunk.
LEGACY_TABLES = ("legacy_readings_hourly", "legacy_readings_daily", "legacy_readings")
_DAILY_STEP = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Piece:
    """A part of a legacy table moved in one transaction: a chunk, or a range of days."""

    table: str
    start: datetime
    end: datetime
    chunk: str | None  # schema-qualified chunk table, dropped once copied; None: delete the range


@dataclass(frozen=True, slots=True)
class _Target:
    time_column: str
    insert: str  # the INSERT ... SELECT of the legacy rows of [$1, $2) into the new table


_COLUMNS = "count, sum, min, max, first_time, first_value, last_time, last_value, increase"


def _rollup(legacy: str, table: str, time_column: str) -> _Target:
    return _Target(time_column, f"""
        INSERT INTO {table} ({time_column}, series_id, {_COLUMNS})
        SELECT l.{time_column}, s.id, {', '.join('l.' + c for c in _COLUMNS.split(', '))} FROM {legacy} l
        JOIN series s ON s.sensor_id = l.sensor_id AND s.metric = l.metric
        WHERE l.{time_column} >= $1 AND l.{time_column} < $2
        ORDER BY s.id, l.{time_column}
        ON CONFLICT DO NOTHING""")


_TARGETS = {
    # Sorted by the new key: the B-tree is filled in order, not at random.
    "legacy_readings": _Target("time", """
        INSERT INTO series_readings (time, value, series_id)
        SELECT l.time, l.value, s.id FROM legacy_readings l
        JOIN series s ON s.sensor_id = l.sensor_id AND s.metric = l.metric
        WHERE l.time >= $1 AND l.time < $2
        ORDER BY s.id, l.time
        ON CONFLICT DO NOTHING"""),
    "legacy_readings_hourly": _rollup("legacy_readings_hourly", "series_hourly", "bucket"),
    "legacy_readings_daily": _rollup("legacy_readings_daily", "series_daily", "day"),
}


async def legacy_tables(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """The legacy tables still present: empty once the conversion is done (or was never needed)."""
    rows = await conn.fetch("SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
                            list(LEGACY_TABLES))
    return [r["t"] for r in rows]


async def _chunks(conn: asyncpg.Connection, table: str) -> list[Piece]:
    rows = await conn.fetch(
        "SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk, range_start, range_end "
        "FROM timescaledb_information.chunks WHERE hypertable_name = $1 ORDER BY range_start",
        table,
    )
    return [Piece(table, r["range_start"], r["range_end"], r["chunk"]) for r in rows]


async def _day_ranges(conn: asyncpg.Connection) -> list[Piece]:
    first, last = await conn.fetchrow("SELECT min(day), max(day) FROM legacy_readings_daily")
    pieces: list[Piece] = []
    while first is not None and first <= last:
        pieces.append(Piece("legacy_readings_daily", first, first + _DAILY_STEP, None))
        first += _DAILY_STEP
    return pieces


async def _move(conn: asyncpg.Connection, piece: Piece) -> int:
    """Copy one piece into the new tables and remove it from the legacy table, atomically."""
    target = _TARGETS[piece.table]
    col = target.time_column
    async with conn.transaction():
        await conn.execute(
            f"INSERT INTO series (sensor_id, metric) SELECT DISTINCT sensor_id, metric FROM {piece.table} "
            f"WHERE {col} >= $1 AND {col} < $2 ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            piece.start, piece.end,
        )
        status = await conn.execute(target.insert, piece.start, piece.end)
        if piece.chunk is not None:
            # drop_chunks rather than DROP TABLE: it also removes a compressed chunk's data
            # (the licensed edition). The range selects exactly this chunk.
            dropped = await conn.fetch(f"SELECT drop_chunks('{piece.table}', older_than => $2::timestamptz, "
                                       f"newer_than => $1::timestamptz)", piece.start, piece.end)
            if len(dropped) != 1:
                raise RuntimeError(f"{piece.chunk}: drop_chunks dropped {len(dropped)} chunks, not this one")
        else:
            await conn.execute(f"DELETE FROM {piece.table} WHERE {col} >= $1 AND {col} < $2", piece.start, piece.end)
    return int(status.rsplit(" ", 1)[-1])


async def convert(conn: asyncpg.Connection, report: Callable[[str], None] = log.info) -> int:
    """Move every legacy row into the series-keyed tables, then drop the legacy tables. Returns
    the rows moved by this run (0 when there was nothing to do)."""
    present = await legacy_tables(conn)
    if not present:
        return 0
    moved = 0
    for table in LEGACY_TABLES:
        if table not in present:
            continue
        pieces = await (_day_ranges(conn) if table == "legacy_readings_daily" else _chunks(conn, table))
        started = time.monotonic()
        for i, piece in enumerate(pieces, 1):
            rows = await _move(conn, piece)
            moved += rows
            elapsed = time.monotonic() - started
            left = elapsed / i * (len(pieces) - i)
            report(f"convert {table}: {i}/{len(pieces)} ({piece.start:%Y-%m-%d}): {rows:,} rows; "
                   f"{elapsed:.1f} s, ~{left:.0f} s left")
        async with conn.transaction():
            remaining = await conn.fetchval(f"SELECT count(*) FROM {table}")
            if remaining:  # rows outside every piece cannot exist; refuse to drop them if they do
                raise RuntimeError(f"{table} still holds {remaining} rows after the conversion")
            await conn.execute(f"DROP TABLE {table}")
        report(f"convert {table}: done")
    for table in ("series", "series_readings", "series_hourly", "series_daily"):
        await conn.execute(f"ANALYZE {table}")
    return moved
