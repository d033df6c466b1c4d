"""From received MQTT messages to the rows one database transaction writes. Pure.

Every message ends up either as readings (columns) or as a rejection with its
reason; a message can be both, when some of its readings fail validation.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from citysense.settings import Settings
from ingest.attribution import sensor_of_topic
from ingest.decoders.base import DecodeContext
from ingest.decoders.registry import decode
from ingest.derived import derive
from ingest.errors import OversizePayload, Rejected, UnknownSensor
from ingest.validation import split_valid
from models.metrics import METRICS, Kind, kind_of
from models.reading import Reading


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_at: datetime  # tz-aware UTC


@dataclass(frozen=True, slots=True)
class PrepareConfig:
    tz: ZoneInfo
    max_payload_bytes: int
    max_future: timedelta
    oldest: timedelta | None = None  # raw-data horizon: older readings cannot be stored
    strict: bool = False


def prepare_config(settings: Settings) -> PrepareConfig:
    """The CITYSENSE_INGEST_* limits prepare() applies (ingest, backfill and the bench use the same)."""
    return PrepareConfig(
        tz=settings.tz,
        max_payload_bytes=settings.ingest_max_payload_bytes,
        max_future=timedelta(seconds=settings.ingest_max_future_s),
        oldest=timedelta(days=settings.retention_days) if settings.retention_days else None,
        strict=settings.ingest_strict_sensors,
    )


@dataclass(slots=True)
class SensorSeen:
    kind: str
    first: datetime
    last: datetime


class Reject(NamedTuple):
    """A dead letter: the message as received, why, and the sensor it names (None: none)."""

    received_at: datetime
    topic: str
    payload: bytes
    error: str
    sensor_id: str | None = None


# Metrics whose time is the start of a counting interval (a Telraam hour), not the moment of
# measurement: their time says nothing about the device clock.
_INTERVAL_METRICS = frozenset(m.name for m in METRICS.values() if m.kind is Kind.MOBILITY)


@dataclass(slots=True)
class PreparedBatch:
    times: list[datetime] = field(default_factory=list)
    sensor_ids: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    sensors: dict[str, SensorSeen] = field(default_factory=dict)
    # sensor -> (device time, receive time) of its message with the newest device time
    clocks: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)


def decoded(msg: Inbound, cfg: PrepareConfig, bin_depth_mm: Mapping[str, float] | None = None) -> list[Reading]:
    """One message's readings as ingest reads them: size limit, decode, derive. Times are the
    payload's own (None where it carries none); not yet validated. `citysense decode` shows these."""
    if len(msg.payload) > cfg.max_payload_bytes:
        raise OversizePayload(len(msg.payload), cfg.max_payload_bytes)
    ctx = DecodeContext(tz=cfg.tz, received_at=msg.received_at, bin_depth_mm=bin_depth_mm or {})
    return derive(decode(msg.topic, msg.payload, ctx), ctx)


def _readings_of(msg: Inbound, cfg: PrepareConfig, bin_depth_mm: Mapping[str, float],
                 clocks: dict[str, tuple[datetime, datetime]]) -> list[Reading]:
    readings = decoded(msg, cfg, bin_depth_mm)
    for r in readings:
        if r.time is not None and r.metric not in _INTERVAL_METRICS:
            seen = clocks.get(r.sensor_id)
            if seen is None or r.time > seen[0]:
                clocks[r.sensor_id] = (r.time, msg.received_at)
    # A payload without a time is stamped with its receive time.
    return [r if r.time is not None else r._replace(time=msg.received_at) for r in readings]


def _named(readings: list[Reading], topic: str) -> str | None:
    """The sensor a rejected message belongs to: its readings' when they name one, else its topic's."""
    sensors = {r.sensor_id for r in readings}
    return sensors.pop() if len(sensors) == 1 else sensor_of_topic(topic)


def prepare(
    messages: Sequence[Inbound],
    cfg: PrepareConfig,
    known_sensors: Container[str] = frozenset(),
    bin_depth_mm: Mapping[str, float] | None = None,
) -> PreparedBatch:
    depths = bin_depth_mm or {}
    rows: list[tuple[str, str, datetime, float]] = []
    batch = PreparedBatch()
    for msg in messages:
        try:
            readings = _readings_of(msg, cfg, depths, batch.clocks)
        except Rejected as exc:
            batch.rejects.append(Reject(msg.received_at, msg.topic, msg.payload, f"{type(exc).__name__}: {exc}",
                                        sensor_of_topic(msg.topic)))
            continue
        good, bad = split_valid(readings, msg.received_at, cfg.max_future)
        if cfg.oldest is not None:
            horizon = msg.received_at - cfg.oldest
            old = [r for r in good if r.time is not None and r.time < horizon]
            if old:
                good = [r for r in good if r.time is None or r.time >= horizon]
                bad.extend(f"{r.sensor_id}: {r.metric} time {r.time} is past the retention horizon" for r in old)
        if cfg.strict:
            unknown = sorted({r.sensor_id for r in good if r.sensor_id not in known_sensors})
            if unknown:
                bad.extend(str(UnknownSensor(s)) for s in unknown)
                good = [r for r in good if r.sensor_id in known_sensors]
        if bad:
            kept = {id(r) for r in good}
            batch.rejects.append(Reject(msg.received_at, msg.topic, msg.payload, "InvalidReading: " + "; ".join(bad),
                                        _named([r for r in readings if id(r) not in kept], msg.topic)))
        for r in good:
            assert r.time is not None
            rows.append((r.sensor_id, r.metric, r.time, r.value))
    # One lock order for every writer: concurrent replicas touching the same keys then
    # wait for each other instead of deadlocking.
    rows.sort()
    for sensor_id, metric, time, value in rows:
        batch.sensor_ids.append(sensor_id)
        batch.metrics.append(metric)
        batch.times.append(time)
        batch.values.append(value)
        seen = batch.sensors.get(sensor_id)
        if seen is None:
            batch.sensors[sensor_id] = SensorSeen(kind_of((metric,)).value, time, time)
        else:
            if seen.kind == "unknown":
                seen.kind = kind_of((metric,)).value
            seen.first = min(seen.first, time)
            seen.last = max(seen.last, time)
    return batch
