"""Waste bins: the fill rate since the last emptying by least squares, and the time to full."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

EMPTYING_DROP = 20.0  # percentage points: a fall at least this big between two readings is an emptying
FULL = 100.0
# Slower than this (points/hour) is not filling: a flat series fits a slope of ~1e-17, whose
# "time to full" would be millions of years.
MIN_RATE = 1e-3
HORIZON_HOURS = 366 * 24  # forecasts further out than this are no forecasts


def last_emptying(values: Sequence[float], min_drop: float = EMPTYING_DROP) -> int:
    """Index of the first reading after the last emptying (0 when the series shows none)."""
    start = 0
    for i in range(1, len(values)):
        if values[i - 1] - values[i] >= min_drop:
            start = i
    return start


@dataclass(frozen=True, slots=True)
class FillForecast:
    emptied_at: datetime | None  # time of the first reading after the last emptying seen
    points: int  # readings the fit used
    rate_per_hour: float | None  # percentage points per hour; None with fewer than 2 readings
    hours_to_full: float | None  # None when the bin is not filling up
    full_at: datetime | None


def forecast_fill(
    times: Sequence[datetime], values: Sequence[float], now: datetime,
    full: float = FULL, min_drop: float = EMPTYING_DROP,
) -> FillForecast:
    """Fit level = a + b·t by least squares to the readings since the last emptying; the bin is
    full where the line reaches `full`. Already at or above `full`: 0 hours."""
    if not values:
        return FillForecast(None, 0, None, None, None)
    i = last_emptying(values, min_drop)
    emptied_at = times[i] if i > 0 else None
    ts, vs = times[i:], values[i:]
    if vs[-1] >= full:
        return FillForecast(emptied_at, len(vs), None, 0.0, now)
    hours = np.array([(t - ts[0]).total_seconds() / 3600.0 for t in ts])
    if len(vs) < 2 or float(np.ptp(hours)) == 0.0:
        return FillForecast(emptied_at, len(vs), None, None, None)
    slope, intercept = np.polyfit(hours, np.asarray(vs, dtype=float), 1)
    rate = float(slope)
    if rate < MIN_RATE:
        return FillForecast(emptied_at, len(vs), rate, None, None)
    at_full = (full - float(intercept)) / rate  # hours after ts[0]
    left = max(0.0, at_full - (now - ts[0]).total_seconds() / 3600.0)
    if left > HORIZON_HOURS:
        return FillForecast(emptied_at, len(vs), rate, None, None)
    return FillForecast(emptied_at, len(vs), rate, left, now + timedelta(hours=left))


def urgency_key(level: float, hours_to_full: float | None, threshold: float) -> tuple[int, float]:
    """Sort key of the collection list: bins at/above the threshold first (fullest first), then by
    the time left until full (soonest first), bins with no forecast last (fullest first)."""
    if level >= threshold:
        return (0, -level)
    if hours_to_full is not None:
        return (1, hours_to_full)
    return (2, -level)
