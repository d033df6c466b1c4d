"""The integer id of each (sensor_id, metric) series, cached by every ingest replica (I/O).

A series row is created once and never deleted (migration 0007), so a cached id stays valid
for the life of the process. Several replicas may meet a new series in the same instant:
each inserts it with ON CONFLICT DO NOTHING (the loser waits on the unique key until the
winner commits, then inserts nothing) and then reads the ids back in a second statement,
whose fresh snapshot sees the winner's row. Both run outside the batch's transaction
(autocommit): a batch rolled back later must not take ids with it that this cache holds.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

_CREATE = """
INSERT INTO series (sensor_id, metric)
SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""
_READ = """
SELECT s.id, s.sensor_id, s.metric FROM series s
JOIN unnest($1::text[], $2::text[]) AS u(sensor_id, metric) ON s.sensor_id = u.sensor_id AND s.metric = u.metric
"""


class SeriesIds:
    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self._ids[key]

    async def resolve(self, conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> None:
        """Make sure every key has its id in the cache, creating the series that do not exist yet."""
        new = sorted({k for k in keys if k not in self._ids})
        if not new:
            return
        sensors = [s for s, _ in new]
        metrics = [m for _, m in new]
        await conn.execute(_CREATE, sensors, metrics)
        for row in await conn.fetch(_READ, sensors, metrics):
            self._ids[(row["sensor_id"], row["metric"])] = row["id"]
        if len(lost := [k for k in new if k not in self._ids]):  # cannot happen: series rows are never deleted
            raise RuntimeError(f"series created but not found: {lost[:3]}")

    def ids(self, sensor_ids: list[str], metrics: list[str]) -> list[int]:
        """The ids of resolved keys, in order."""
        cache = self._ids
        return [cache[k] for k in zip(sensor_ids, metrics, strict=True)]
