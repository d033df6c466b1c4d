"""The SQL the API runs about sensors, readings and latest values. Routes stay thin; every query
lives in this package (aggregates and policy figures in their own modules)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

_SENSOR_COLUMNS = "id, kind, source, model, district, lat, lon, private, metadata, first_seen, last_seen"
# Registry fields a client may write; source is derived from the id, times come from ingest.
WRITABLE = ("kind", "model", "district", "lat", "lon", "private", "metadata")


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
    conn: asyncpg.Connection, kind: str | None, district: str | None, include_private: bool = True
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_SENSOR_COLUMNS} FROM sensors "
        "WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR district = $2) "
        "AND ($3 OR NOT private) ORDER BY id",
        kind, district, include_private,
    )
    return [_sensor(r) for r in rows]


async def get_sensor(conn: asyncpg.Connection, sensor_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_SENSOR_COLUMNS} FROM sensors WHERE id = $1", sensor_id)
    return _sensor(row) if row is not None else None


async def sensor_visible(conn: asyncpg.Connection, sensor_id: str, include_private: bool) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sensors WHERE id = $1 AND ($2 OR NOT private))", sensor_id, include_private
    )
    return found


async def sensor_exists(conn: asyncpg.Connection, sensor_id: str) -> bool:
    return await sensor_visible(conn, sensor_id, True)


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
        "SELECT r.time, s.metric, r.value FROM series s JOIN series_readings r ON r.series_id = s.id "
        "WHERE s.sensor_id = $1 AND ($2::text IS NULL OR s.metric = $2) "
        "AND ($3::timestamptz IS NULL OR r.time >= $3) AND ($4::timestamptz IS NULL OR r.time < $4) "
        "ORDER BY r.time, s.metric LIMIT $5",
        sensor_id, metric, start, end, limit + 1,
    )
    return rows


_UPSERT_SENSOR = f"""
INSERT INTO sensors AS s (id, source, kind, model, district, lat, lon, private, metadata)
VALUES ($1, split_part($1, ':', 1), $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (id) DO UPDATE SET
    kind = excluded.kind, model = excluded.model, district = excluded.district, lat = excluded.lat,
    lon = excluded.lon, private = excluded.private, metadata = excluded.metadata
RETURNING {_SENSOR_COLUMNS}, (xmax = 0) AS created
"""


def _args(sensor_id: str, fields: dict[str, Any]) -> tuple[Any, ...]:
    return (
        sensor_id, fields["kind"], fields["model"], fields["district"], fields["lat"], fields["lon"],
        fields["private"], orjson.dumps(fields["metadata"]).decode(),
    )


async def create_sensor(conn: asyncpg.Connection, sensor_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """None when the id is taken."""
    row = await conn.fetchrow(
        f"INSERT INTO sensors (id, source, kind, model, district, lat, lon, private, metadata) "
        f"VALUES ($1, split_part($1, ':', 1), $2, $3, $4, $5, $6, $7, $8::jsonb) "
        f"ON CONFLICT (id) DO NOTHING RETURNING {_SENSOR_COLUMNS}",
        *_args(sensor_id, fields),
    )
    return _sensor(row) if row is not None else None


async def put_sensor(conn: asyncpg.Connection, sensor_id: str, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace every writable field; also returns whether the sensor was created."""
    row = await conn.fetchrow(_UPSERT_SENSOR, *_args(sensor_id, fields))
    out = _sensor(row)
    created = bool(out.pop("created"))
    return out, created


async def patch_sensor(conn: asyncpg.Connection, sensor_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Change the given writable fields only; None when there is no such sensor."""
    assert set(fields) <= set(WRITABLE)
    sets, args = [], [sensor_id]
    for name, value in fields.items():
        args.append(orjson.dumps(value).decode() if name == "metadata" else value)
        sets.append(f"{name} = ${len(args)}{'::jsonb' if name == 'metadata' else ''}")
    if not sets:
        return await get_sensor(conn, sensor_id)
    row = await conn.fetchrow(
        f"UPDATE sensors SET {', '.join(sets)} WHERE id = $1 RETURNING {_SENSOR_COLUMNS}", *args
    )
    return _sensor(row) if row is not None else None


async def delete_sensor(conn: asyncpg.Connection, sensor_id: str, purge: bool) -> bool:
    async with conn.transaction():
        deleted = await conn.fetchval("DELETE FROM sensors WHERE id = $1 RETURNING true", sensor_id)
        if deleted and purge:
            # The series rows stay (ingest replicas cache their ids, migration 0007); their data goes.
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM series WHERE sensor_id = $1", sensor_id)]
            for table in ("series_readings", "series_hourly", "series_daily"):
                await conn.execute(f"DELETE FROM {table} WHERE series_id = ANY($1::int[])", ids)
    return bool(deleted)


async def import_sensors(conn: asyncpg.Connection, rows: Sequence[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
    """Upsert a fleet in one transaction: all or nothing. Returns (created, updated)."""
    created = 0
    async with conn.transaction():
        # One statement per row keeps the SQL the same as PUT's; a fleet is thousands of rows, not millions.
        for sensor_id, fields in rows:
            row = await conn.fetchrow(_UPSERT_SENSOR, *_args(sensor_id, fields))
            created += bool(row["created"])
    return created, len(rows) - created


async def registry_rows(conn: asyncpg.Connection, ids: Sequence[str] | None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, kind, district, private FROM sensors WHERE $1::text[] IS NULL OR id = ANY($1)", ids
    )
    return rows


# The latest value of each metric of one sensor: one probe of the rollups' primary key
# (sensor_id, metric, bucket) per catalogue metric, however long the history.
_LATEST_OF_SENSOR = """
SELECT m.metric, l.last_time AS time, l.last_value AS value
FROM unnest($2::text[]) AS m(metric)
CROSS JOIN LATERAL (
    SELECT h.last_time, h.last_value FROM readings_hourly h
    WHERE h.sensor_id = $1 AND h.metric = m.metric ORDER BY h.bucket DESC LIMIT 1
) l
ORDER BY m.metric
"""


async def latest_of_sensor(conn: asyncpg.Connection, sensor_id: str, metrics: Sequence[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_LATEST_OF_SENSOR, sensor_id, list(metrics))
    return rows


# Latest values of many sensors: the rollups of the recent past only (an index range on
# bucket), so the cost does not grow with the length of the history. Series silent for
# longer than `since` are left out.
_LATEST_RECENT = """
SELECT DISTINCT ON (h.sensor_id, h.metric) h.sensor_id, h.metric, h.last_time AS time, h.last_value AS value
FROM readings_hourly h
WHERE h.bucket >= time_bucket('1 hour', $1::timestamptz)
  AND h.sensor_id = ANY($2::text[])
  AND (cardinality($3::text[]) = 0 OR h.metric = ANY($3))
ORDER BY h.sensor_id, h.metric, h.bucket DESC
"""


# One page of the live feed's snapshot: the latest value of each series after (sensor_id, metric) in
# key order, filtered like the feed. Keyset paging walks the rollups' primary key (sensor_id, metric,
# bucket), so every page costs the same however far into the fleet it is.
_LATEST_PAGE = """
SELECT DISTINCT ON (h.sensor_id, h.metric) h.sensor_id, h.metric, h.last_time AS time, h.last_value AS value
FROM readings_hourly h JOIN sensors s ON s.id = h.sensor_id
WHERE h.bucket >= time_bucket('1 hour', $1::timestamptz)
  AND (h.sensor_id, h.metric) > ($2::text, $3::text)
  AND s.id >= $2::text  -- implied by the line above; lets a plan that starts from sensors start at the key
  AND (cardinality($4::text[]) = 0 OR h.metric = ANY($4))
  AND (cardinality($5::text[]) = 0 OR h.sensor_id = ANY($5))
  AND (cardinality($6::text[]) = 0 OR s.kind = ANY($6))
  AND (cardinality($7::text[]) = 0 OR s.district = ANY($7))
  AND ($8 OR NOT s.private)
ORDER BY h.sensor_id, h.metric, h.bucket DESC
LIMIT $9
"""


async def latest_page(
    conn: asyncpg.Connection, since: datetime, after: tuple[str, str], metrics: Sequence[str],
    sensor_ids: Sequence[str], kinds: Sequence[str], districts: Sequence[str], include_private: bool, limit: int,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _LATEST_PAGE, since, after[0], after[1], list(metrics), list(sensor_ids), list(kinds), list(districts),
        include_private, limit,
    )
    return rows


async def latest_recent(
    conn: asyncpg.Connection, since: datetime, sensor_ids: Sequence[str], metrics: Sequence[str]
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_LATEST_RECENT, since, list(sensor_ids), list(metrics))
    return rows
