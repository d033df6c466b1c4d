"""The raw-data horizon, enforced by ingest itself with drop_chunks (works on the Apache edition).

Rollups are kept: dashboards still answer for periods whose raw rows are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from citysense.settings import Settings

log = logging.getLogger("citysense.ingest.retention")

_EVERY_S = 3600.0


LOCK_KEY = 0x52657465  # "Rete": shared by every ingest replica


async def drop_old_chunks(pool: asyncpg.Pool, days: int) -> int | None:
    """Chunks dropped, or None when another replica is enforcing retention right now: one
    run is enough, and concurrent drop_chunks only wait on each other's locks."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
            return None
        dropped = await conn.fetch(
            "SELECT drop_chunks('series_readings', older_than => now() - make_interval(days => $1))", days
        )
    return len(dropped)


async def enforce_retention(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event) -> None:
    if not settings.retention_days:
        return
    while not stop.is_set():
        try:
            n = await drop_old_chunks(pool, settings.retention_days)
            if n is None:
                log.debug("retention: another replica is running it")
            elif n:
                log.info("retention: dropped %d chunk(s) older than %d days", n, settings.retention_days)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("retention run failed (%s); next try in an hour", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _EVERY_S)
