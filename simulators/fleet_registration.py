"""Registering the simulated fleet in the `sensors` table (I/O).

Ingest derives a bin's fill level from its raw distance and the bin depth it finds
in `sensors.metadata.depth_mm`; the dashboards group by district and place
sensors on a map. So the simulators write what they know about each sensor
before (or while) they publish. Existing rows keep metadata keys the fleet does
not set, and their first/last-seen times.
"""

from __future__ import annotations

import asyncpg
import orjson

from simulators.fleet import Fleet, Sensor

_UPSERT = """
INSERT INTO sensors AS s (id, source, kind, model, district, lat, lon, private, metadata)
SELECT id, split_part(id, ':', 1), kind, model, district, lat, lon, private, metadata::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::bool[], $8::text[])
     AS u(id, kind, model, district, lat, lon, private, metadata)
ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    kind = excluded.kind,
    model = excluded.model,
    district = excluded.district,
    lat = excluded.lat,
    lon = excluded.lon,
    private = excluded.private,
    metadata = s.metadata || excluded.metadata
"""


def metadata_json(sensor: Sensor) -> str:
    meta = {"simulated": True, "format": sensor.format, "interval_s": sensor.interval_s, **sensor.metadata}
    return orjson.dumps(meta).decode()


async def register(conn: asyncpg.Connection | asyncpg.Pool, fleet: Fleet) -> int:
    """Upsert every sensor of the fleet; returns how many."""
    s = fleet.sensors
    await conn.execute(
        _UPSERT,
        [x.id for x in s], [x.kind for x in s], [x.model or None for x in s], [x.district for x in s],
        [x.lat for x in s], [x.lon for x in s], [x.private for x in s], [metadata_json(x) for x in s],
    )
    return len(s)
