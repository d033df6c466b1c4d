"""The SQL the API runs. Routes stay thin; every query lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

_SENSOR_COLUMNS = "id, kind, source, model, district, lat, lon, private, metadata, first_seen, last_seen"


def _sensor(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    meta = out.get("metadata")
    out["metadata"] = orjson.loads(meta) if isinstance(meta, str | bytes) else (meta or {})
    return out


async def database_answers(conn: asyncpg.Connection) -> str | None:
    """The TimescaleDB version when the database answers a query."""
    version: str | None = await conn.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    )
    return version


async def list_sensors(
    conn: asyncpg.Connection, kind: str | None, district: str | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_SENSOR_COLUMNS} FROM sensors "
        "WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR district = $2) ORDER BY id",
        kind, district,
    )
    return [_sensor(r) for r in rows]


async def sensor_exists(conn: asyncpg.Connection, sensor_id: str) -> bool:
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sensors WHERE id = $1)", sensor_id)
    return found


async def sensor_readings(
    conn: asyncpg.Connection,
    sensor_id: str,
    metric: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Raw rows of one sensor, `start` inclusive, `end` exclusive, oldest first; at most `limit` + 1."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT time, metric, value FROM readings WHERE sensor_id = $1 "
        "AND ($2::text IS NULL OR metric = $2) "
        "AND ($3::timestamptz IS NULL OR time >= $3) AND ($4::timestamptz IS NULL OR time < $4) "
        "ORDER BY time, metric LIMIT $5",
        sensor_id, metric, start, end, limit + 1,
    )
    return rows
