"""Registry writes and the map: the parts of the sensor endpoints beyond one query."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from api import queries
from api.csvio import parse_fleet
from api.schemas import (
    LatestValue,
    PointGeometry,
    SensorCreate,
    SensorFeature,
    SensorFeatureProperties,
    SensorMap,
)
from models.metrics import METRICS


def validate_fleet(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse and validate a fleet CSV with the same model as POST; ValueError naming the line."""
    out: list[tuple[str, dict[str, Any]]] = []
    for row in parse_fleet(text):
        line = row.pop("_line")
        try:
            sensor = SensorCreate.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"line {line}: {where}: {first['msg']}") from None
        fields = sensor.model_dump(exclude={"id"}, mode="json")
        out.append((sensor.id, fields))
    return out


def latest_values(rows: list[asyncpg.Record]) -> list[LatestValue]:
    return [
        LatestValue(metric=r["metric"], value=r["value"], unit=METRICS[r["metric"]].unit, time=r["time"])
        for r in rows if r["metric"] in METRICS
    ]


async def sensor_map(
    conn: asyncpg.Connection, kind: str | None, district: str | None, include_private: bool,
    now: datetime, within: timedelta,
) -> SensorMap:
    sensors = [s for s in await queries.list_sensors(conn, kind, district, include_private)
               if s["lat"] is not None and s["lon"] is not None]
    latest: dict[str, dict[str, LatestValue]] = {s["id"]: {} for s in sensors}
    if sensors:
        rows = await queries.latest_recent(conn, now - within, list(latest), [])
        for r in rows:
            for v in latest_values([r]):
                latest[r["sensor_id"]][v.metric] = v
    features = [
        SensorFeature(
            id=s["id"],
            geometry=PointGeometry(coordinates=(s["lon"], s["lat"])),
            properties=SensorFeatureProperties(
                id=s["id"], kind=s["kind"], district=s["district"], model=s["model"],
                last_seen=s["last_seen"], latest=latest[s["id"]],
            ),
        )
        for s in sensors
    ]
    return SensorMap(features=features)
