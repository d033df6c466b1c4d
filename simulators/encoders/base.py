"""What every encoder shares: the message and sample types, and how devices print times and numbers. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from models.reading import Reading
from simulators.fleet import Sensor

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    readings: tuple[Reading, ...]  # what ingest decodes from it; time None = receive time
    delay_s: float  # publish time minus measurement time (network, gateway, API polling)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement of one sensor, as the encoders take it."""

    sensor: Sensor
    t: int  # UTC epoch seconds
    index: int  # the sample's number on the sensor's grid (frame counters, ids)
    values: Mapping[str, float]
    u: Sequence[float]  # uniforms in [0, 1) for this message's incidental randomness (radio, jitter)
    tz: ZoneInfo = BRUSSELS  # the zone of device clocks that keep local time (ingest's CITYSENSE_TIMEZONE)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def local_clock(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def as_decoded_local(local: datetime, tz: ZoneInfo) -> datetime:
    """What a zone-less local time means to ingest: the earlier hour when the clock is ambiguous (the
    autumn fold), as `datetime` and ingest resolve it. A device without a zone really loses that hour."""
    return local.replace(tzinfo=None).replace(tzinfo=tz, fold=0).astimezone(UTC)


def as_printed(value: float, decimals: int) -> tuple[str, float]:
    """The value as the device prints it, and what that text parses back to."""
    text = f"{value:.{decimals}f}" if decimals > 0 else str(round(value))
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text, float(text)


def with_fill(s: Sample, readings: tuple[Reading, ...]) -> tuple[Reading, ...]:
    """Bins: ingest derives the fill level from the distance and the bin depth of the sensor registry."""
    depth = s.sensor.metadata.get("depth_mm")
    if s.sensor.kind != "bin" or depth is None:
        return readings
    derived = tuple(
        Reading(r.sensor_id, "fill_level", min(100.0, max(0.0, (depth - r.value) / depth * 100.0)), r.time)
        for r in readings if r.metric == "distance"
    )
    return readings + derived
