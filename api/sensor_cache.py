"""A cached copy of the sensor registry: what the live feed needs to filter a reading by kind and
district and to keep private sensors from anonymous clients, without a query per reading."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import asyncpg

from api import queries
from api.live.hub import SeriesInfo as SensorInfo

log = logging.getLogger("citysense.api.registry")


# What a sensor the registry does not (yet) know counts as: private, so nothing of it reaches
# anonymous clients until we know better.
UNKNOWN = SensorInfo(kind="unknown", district=None, private=True)


class RegistryCache:
    def __init__(self, pool: asyncpg.Pool, refresh_s: float) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._by_id: dict[str, SensorInfo] = {}
        self.loaded_at = float("-inf")

    def get(self, sensor_id: str) -> SensorInfo:
        return self._by_id.get(sensor_id, UNKNOWN)

    def knows(self, sensor_id: str) -> bool:
        return sensor_id in self._by_id

    def _store(self, rows: Iterable[asyncpg.Record]) -> None:
        for r in rows:
            self._by_id[r["id"]] = SensorInfo(r["kind"], r["district"], r["private"])

    async def refresh(self) -> None:
        async with self._pool.acquire() as conn:
            rows = await queries.registry_rows(conn, None)
        self._by_id = {}
        self._store(rows)
        self.loaded_at = time.monotonic()

    async def resolve(self, ids: Iterable[str]) -> None:
        """Look up sensors first seen on the live bus. Ingest upserts a sensor in the transaction
        that stores its readings, so by the time they are on the bus the row exists."""
        missing = sorted({i for i in ids if i not in self._by_id})
        if not missing:
            return
        try:
            async with self._pool.acquire() as conn:
                self._store(await queries.registry_rows(conn, missing))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not look up %d new sensor(s): %s", len(missing), exc)

    def forget(self, sensor_id: str) -> None:
        self._by_id.pop(sensor_id, None)

    async def run(self) -> None:
        """Refresh the whole copy periodically: districts and privacy can change by admin edits
        in another API process, which this one hears nothing of."""
        while True:
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("could not refresh the sensor registry (%s); keeping the last copy", exc)
            await asyncio.sleep(self._refresh_s)
