"""SQL of the open-data catalogue: the time span each dataset's data covers."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# From the daily rollups (one row per sensor, metric and day), through their metric index.
_SPAN = """
SELECT min(d.first_time) AS first, max(d.last_time) AS last
FROM readings_daily d JOIN sensors s ON s.id = d.sensor_id
WHERE d.metric = ANY($2::text[]) AND s.kind = $1
"""


async def time_span(conn: asyncpg.Connection, kind: str, metrics: list[str]) -> tuple[datetime | None, datetime | None]:
    row = await conn.fetchrow(_SPAN, kind, metrics)
    assert row is not None
    return row["first"], row["last"]
