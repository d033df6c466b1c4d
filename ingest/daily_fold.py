"""Folding the days that are over into the daily rollups (I/O), run by every ingest replica.

The writer keeps the hourly rollups of every batch, but the daily ones only for days already
folded (late data); the days after the boundary are summed from their hours when read
(the `readings_daily` view, migration 0007). Once a local day is over, this folds it: one
`fold_series_daily` call writes its rows and moves the boundary. Until it runs, readings_daily
still answers exactly, from the hours; only reads of long ranges get slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from models.rollups import DAILY_ZONE

log = logging.getLogger("citysense.ingest.daily_fold")

_EVERY_S = 600.0
LOCK_KEY = 0x466F6C64  # "Fold": shared by every ingest replica


async def fold_finished_days(pool: asyncpg.Pool) -> int | None:
    """Daily rows written, or None when another replica is folding right now."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        written: int = await conn.fetchval(
            "SELECT fold_series_daily(time_bucket('1 day', now(), $1::text))", DAILY_ZONE)
    return written


async def fold_daily(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            n = await fold_finished_days(pool)
            if n:
                log.info("daily rollups: folded %d series-days", n)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("daily fold failed (%s); next try in %d s", exc, _EVERY_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _EVERY_S)
