"""Energy: counter increases with resets, base load, peak demand and weekday/weekend profiles."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime

NIGHT_HOURS = range(0, 5)  # local 00:00-04:59: the hours when a building draws only its base load


def counter_increase(values: Sequence[float], before: float | None = None) -> float:
    """What a cumulative counter accrued over consecutive readings: the sum of the steps, a step
    down being a reset after which the new value is what accrued since. `before`: the reading
    preceding the first one, if any."""
    total = 0.0
    prev = before
    for v in values:
        if prev is not None:
            total += v - prev if v >= prev else v
        prev = v
    return total


def base_load(nightly_minima: Iterable[float]) -> float | None:
    """The median of each night's minimum power: robust to the odd night with an outage (0 W)
    or a night-time appliance run."""
    vs = list(nightly_minima)
    return statistics.median(vs) if vs else None


def peak(points: Iterable[tuple[datetime, float]]) -> tuple[datetime, float] | None:
    """The (time, value) of the highest value, the earliest one on a tie."""
    best: tuple[datetime, float] | None = None
    for t, v in sorted(points):
        if best is None or v > best[1]:
            best = (t, v)
    return best


def is_weekend(local: datetime) -> bool:
    return local.weekday() >= 5


def hourly_profile(points: Iterable[tuple[datetime, float]]) -> dict[str, list[float | None]]:
    """The mean value per local hour of day, weekdays and weekends apart.
    `points`: (local time of the hour, value)."""
    sums = {"weekday": [0.0] * 24, "weekend": [0.0] * 24}
    counts = {"weekday": [0] * 24, "weekend": [0] * 24}
    for t, v in points:
        key = "weekend" if is_weekend(t) else "weekday"
        sums[key][t.hour] += v
        counts[key][t.hour] += 1
    return {
        key: [sums[key][h] / counts[key][h] if counts[key][h] else None for h in range(24)] for key in sums
    }
