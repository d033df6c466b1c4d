"""Response models, named for their role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class HealthStatus(BaseModel):
    status: str
    database: str
    timescaledb: str | None = None


class SensorOut(BaseModel):
    id: str
    kind: str
    source: str
    model: str | None
    district: str | None
    lat: float | None
    lon: float | None
    private: bool
    metadata: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None


class SensorList(BaseModel):
    data: list[SensorOut]


class ReadingOut(BaseModel):
    time: datetime
    metric: str
    value: float
    unit: str


class SensorReadings(BaseModel):
    sensor_id: str
    data: list[ReadingOut]
    truncated: bool = Field(description="true when more rows matched than `limit`; narrow the time range")


class Problem(BaseModel):
    detail: str
