"""Coverage of aggregate rows: received ÷ expected readings. Pure.

A series is expected to report once per its learned interval, the same cadence fleet health
judges by (docs/fleet-health.md): the median over the hours of the requested range of each
hour's gap (its span over its gaps; for an hour of one reading, the gap back to the previous
hour's last). A bucket then expects, of every sensor of its group that reports the metric in the
range, the part of the bucket inside the range and after the sensor's first reading, divided by
its interval. Coverage 1 is complete; under 1, readings are missing (a dropout, a dead sensor);
above 1, a sensor reported faster than its usual cadence (a burst, redeliveries).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from api.aggregation import AggRow


@dataclass(frozen=True, slots=True)
class Cadence:
    group: str | None  # the sensor's group key in the request
    since: datetime  # the sensor's first reading ever: nothing is expected before it
    interval_s: float


def expected_readings(start: datetime, end: datetime, cadences: Iterable[Cadence]) -> float:
    """How many readings the sensors owe in [start, end)."""
    total = 0.0
    for c in cadences:
        lo = max(start, c.since)
        if end > lo and c.interval_s > 0:
            total += (end - lo).total_seconds() / c.interval_s
    return total


def with_coverage(rows: Sequence[AggRow], cadences: Iterable[Cadence], start: datetime, end: datetime,
                  bucket_end: Callable[[datetime], datetime]) -> list[AggRow]:
    """The rows with `coverage` set: count ÷ expected, None where nothing was expected."""
    by_group: dict[str | None, list[Cadence]] = defaultdict(list)
    for c in cadences:
        by_group[c.group].append(c)
    out: list[AggRow] = []
    for r in rows:
        owed = expected_readings(max(start, r.bucket), min(end, bucket_end(r.bucket)), by_group.get(r.group, ()))
        out.append(replace(r, coverage=r.count / owed if owed > 0 else None))
    return out
