"""Checks every reading passes before it is stored: a known metric, a finite value in its
physical range, a time that is not in the future."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.errors import InvalidReading
from models.metrics import METRICS
from models.reading import Reading


def check(reading: Reading, now: datetime, max_future: timedelta) -> str | None:
    """None when the reading is fine, else why not (one line, for the dead-letter table)."""
    spec = METRICS.get(reading.metric)
    if spec is None:
        return f"{reading.sensor_id}: unknown metric {reading.metric!r}"
    if not spec.admits(reading.value):
        if reading.value != reading.value or reading.value in (float("inf"), float("-inf")):
            return f"{reading.sensor_id}: {reading.metric} is {reading.value}, not a finite number"
        return (
            f"{reading.sensor_id}: {reading.metric}={reading.value:g} {spec.unit} "
            f"outside {spec.low:g}..{spec.high:g}"
        )
    if reading.time is not None and reading.time > now + max_future:
        return f"{reading.sensor_id}: {reading.metric} time {reading.time.isoformat()} is in the future"
    return None


def split_valid(
    readings: list[Reading], now: datetime, max_future: timedelta
) -> tuple[list[Reading], list[str]]:
    """The readings that pass, and the reasons for those that do not."""
    good: list[Reading] = []
    bad: list[str] = []
    for r in readings:
        why = check(r, now, max_future)
        if why is None:
            good.append(r)
        else:
            bad.append(why)
    return good, bad


def require_valid(readings: list[Reading], now: datetime, max_future: timedelta) -> list[Reading]:
    good, bad = split_valid(readings, now, max_future)
    if bad:
        raise InvalidReading("; ".join(bad))
    return good
