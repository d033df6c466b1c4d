"""Sensor health: the problems of one sensor from the facts the database holds. Pure.

The facts (api/queries/health.py gathers them in one statement) are, per sensor: when it was
last seen, the median gap between its readings per series (the expected interval is the
fastest series'), the last value of each series and how long it has repeated, the dead
letters attributed to it recently, and its device clock against the receive clock.
docs/fleet-health.md explains every rule and threshold, and why.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from api.analysis.mobility import LOW_UPTIME


class ProblemKind(StrEnum):
    SILENT = "silent"
    LATE = "late"
    STUCK = "stuck"
    OUT_OF_RANGE = "out_of_range"
    REJECTING = "rejecting"
    LOW_BATTERY = "low_battery"
    CLOCK_SKEW = "clock_skew"
    LOW_UPTIME = "low_uptime"


OK = "ok"
# Worst first: a silent sensor's other problems can wait; a late one may be about to fall
# silent; wrong values (stuck, out of range, rejected) mislead whoever reads them; a low
# battery and a wrong clock are maintenance; low uptime only thins a count.
SEVERITY: tuple[ProblemKind, ...] = tuple(ProblemKind)
_RANK = {kind: i for i, kind in enumerate(SEVERITY)}
STATUSES: tuple[str, ...] = (OK, *SEVERITY)


@dataclass(frozen=True, slots=True)
class Thresholds:
    late_factor: float = 3.0  # late: no reading for more than this many expected intervals
    silent_factor: float = 20.0  # silent: more than this many intervals…
    silent_after: timedelta = timedelta(hours=24)  # …or more than this, whichever comes first
    low_battery_pct: float = 15.0
    clock_skew: timedelta = timedelta(minutes=5)
    low_uptime: float = LOW_UPTIME
    recent: timedelta = timedelta(hours=1)  # how far back dead letters count


@dataclass(frozen=True, slots=True)
class StuckRule:
    """A series is stuck when its last `repeats` readings carry the same value (zero excepted
    where zero is a normal resting value: no bikes at night, a plug switched off; and values at or
    below `floor`, where a coarse sensor's reading barely moves: clean air at 2 µg/m³ on a sensor
    that reports whole µg/m³)."""

    repeats: int
    reason: str
    zero_is_normal: bool = False
    floor: float = float("-inf")


_NOISY = "a continuous measurement at this resolution always moves a little"
# Clean air: LoRaWAN air sensors (Milesight AM, the TTN and ChirpStack payloads) report PM in whole
# µg/m³, gas sensors in steps of 1 µg/m³ or coarser. At 2-5 µg/m³ that is a step or two of signal, and
# a clean simulated week showed runs of up to 73 identical readings there (18 h of a clean night);
# the failures the rule is for freeze high (999.9, a saturated element). A sensor frozen at a clean-air
# value goes unnoticed until the air changes: at this resolution it looks the same as clean air.
_CLEAN_AIR_UG_M3 = 5.0
# Metrics without a rule legitimately hold a value: a bin's fill level between emptyings, a
# battery percentage, a tilt flag, a counter that stopped because nothing is consumed,
# Telraam's uptime, a power factor of a resistive load.
STUCK_RULES: dict[str, StuckRule] = {
    **{m: StuckRule(12, f"{_NOISY}; a PM sensor frozen at one value (often 999.9) has failed",
                    floor=_CLEAN_AIR_UG_M3)
       for m in ("pm1", "pm25", "pm10")},
    **{m: StuckRule(12, _NOISY, floor=_CLEAN_AIR_UG_M3) for m in ("no2", "o3")},
    **{m: StuckRule(12, _NOISY) for m in ("co2", "pressure", "temperature", "voltage", "frequency")},
    "humidity": StuckRule(12, f"{_NOISY}; a DHT22 that failed reads 99.9 % for good"),
    **{m: StuckRule(24, "a running load's power wanders; an identical non-zero value is a frozen meter",
                    zero_is_normal=True)
       for m in ("power", "apparent_power", "reactive_power", "current")},
    **{m: StuckRule(6, "traffic counts vary hour to hour; zero is normal at night", zero_is_normal=True)
       for m in ("bikes", "cars", "pedestrians", "heavy_vehicles", "speed_v85")},
}


@dataclass(frozen=True, slots=True)
class SeriesFacts:
    metric: str
    last_time: datetime
    last_value: float
    run: int  # how many of the latest readings carry last_value (as the hourly rollups show it)
    run_since: datetime  # the first reading of that run
    median_gap_s: float | None  # the median gap between recent readings; None: too few readings


@dataclass(frozen=True, slots=True)
class RejectFacts:
    kind: ProblemKind  # OUT_OF_RANGE (refused by validation) or REJECTING (any other dead letter)
    count: int
    first: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class ClockFacts:
    skew_s: float  # receive time - device time
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SensorFacts:
    sensor_id: str
    last_seen: datetime | None
    registered: datetime
    series: tuple[SeriesFacts, ...] = ()
    rejects: tuple[RejectFacts, ...] = ()
    clock: ClockFacts | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    metric: str | None
    detail: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Health:
    sensor_id: str
    status: str
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    last_seen: datetime | None = None
    expected_interval_s: float | None = None


def median_gap_s(times: Sequence[datetime]) -> float | None:
    """The median gap between consecutive readings: robust to a dropout or a burst."""
    ordered = sorted(times)
    gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(ordered) if b > a)
    if not gaps:
        return None
    mid = len(gaps) // 2
    return gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2


def expected_interval_s(series: Iterable[SeriesFacts]) -> float | None:
    """The sensor's cadence: its fastest series' (a meter's power every 10 s, not its hourly gas)."""
    gaps = [s.median_gap_s for s in series if s.median_gap_s is not None and s.median_gap_s > 0]
    return min(gaps) if gaps else None


def worst(problems: Iterable[Problem]) -> str:
    kinds = [p.kind for p in problems]
    return min(kinds, key=_RANK.__getitem__).value if kinds else OK


def _fmt_s(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def calm_for_s(interval: float | None, t: Thresholds) -> float:
    """How long after its last reading a sensor is neither late nor silent: until then its
    judgement does not change with the clock (the API keeps it between readings)."""
    silent_after = t.silent_after.total_seconds()
    if interval is None:
        return silent_after
    return min(silent_after, t.silent_factor * interval, t.late_factor * interval)


def _silence(facts: SensorFacts, interval: float | None, now: datetime, t: Thresholds) -> Problem | None:
    if facts.last_seen is None:
        return Problem(ProblemKind.SILENT, None, "never reported a reading", facts.registered)
    quiet = (now - facts.last_seen).total_seconds()
    silent_after = t.silent_after.total_seconds()
    if interval is not None:
        silent_after = min(silent_after, t.silent_factor * interval)
    if quiet > silent_after:
        return Problem(ProblemKind.SILENT, None, f"no reading for {_fmt_s(quiet)}",
                       facts.last_seen + timedelta(seconds=silent_after))
    if interval is not None and quiet > t.late_factor * interval:
        return Problem(ProblemKind.LATE, None,
                       f"no reading for {_fmt_s(quiet)}, {quiet / interval:.1f} x its interval of {_fmt_s(interval)}",
                       facts.last_seen + timedelta(seconds=t.late_factor * interval))
    return None


def _stuck(s: SeriesFacts) -> Problem | None:
    rule = STUCK_RULES.get(s.metric)
    if rule is None or s.run < rule.repeats or (rule.zero_is_normal and s.last_value == 0) \
            or s.last_value <= rule.floor:
        return None
    return Problem(ProblemKind.STUCK, s.metric,
                   f"{s.metric} repeated {s.last_value:g} in its last {s.run} readings ({rule.reason})", s.run_since)


_BAD_METRIC = re.compile(r": (?P<metric>[a-z0-9_]+)(?:=| is )")


def _reject(r: RejectFacts) -> Problem:
    match = _BAD_METRIC.search(r.last_error) if r.kind is ProblemKind.OUT_OF_RANGE else None
    what = "readings refused by validation" if r.kind is ProblemKind.OUT_OF_RANGE else "payloads dead-lettered"
    return Problem(r.kind, match["metric"] if match else None,
                   f"{r.count} {what} recently; last: {r.last_error}", r.first)


def assess(facts: SensorFacts, now: datetime, t: Thresholds = Thresholds()) -> Health:
    """The sensor's problems, worst first, and its status."""
    interval = expected_interval_s(facts.series)
    problems: list[Problem] = []
    silence = _silence(facts, interval, now, t)
    if silence is not None:
        problems.append(silence)
    for s in facts.series:
        stuck = _stuck(s)
        if stuck is not None:
            problems.append(stuck)
        if s.metric == "battery" and s.last_value <= t.low_battery_pct:
            detail = f"battery at {s.last_value:g} % (at or below {t.low_battery_pct:g} %)"
            problems.append(Problem(ProblemKind.LOW_BATTERY, "battery", detail, s.last_time))
        # Uptime 0 is a dark hour (the camera does not count at night), not a poor one.
        if s.metric == "uptime" and 0 < s.last_value < t.low_uptime:
            problems.append(Problem(ProblemKind.LOW_UPTIME, "uptime",
                                    f"the hour from {s.last_time.isoformat()} was counted {s.last_value:.0%} of the "
                                    f"time (under {t.low_uptime:.0%}): its counts are extrapolated", s.last_time))
    problems.extend(_reject(r) for r in facts.rejects)  # the query keeps only recent ones
    if facts.clock is not None and abs(facts.clock.skew_s) > t.clock_skew.total_seconds():
        ahead = "behind" if facts.clock.skew_s > 0 else "ahead of"
        problems.append(Problem(ProblemKind.CLOCK_SKEW, None,
                                f"device clock {_fmt_s(abs(facts.clock.skew_s))} {ahead} the receive time",
                                facts.clock.received_at))
    problems.sort(key=lambda p: (_RANK[p.kind], p.metric or ""))
    return Health(facts.sensor_id, worst(problems), tuple(problems), facts.last_seen, interval)


def reassess(calm: Health, facts: SensorFacts, now: datetime, t: Thresholds = Thresholds()) -> Health:
    """assess(facts, now, t), from `calm` = assess(facts, facts.last_seen, t), its judgement at its
    last reading: of all the rules only silence depends on the clock, and it ranks first."""
    if facts.last_seen is None:
        return assess(facts, now, t)
    problem = _silence(facts, calm.expected_interval_s, now, t)
    if problem is None:
        return calm
    return Health(calm.sensor_id, problem.kind.value, (problem, *calm.problems), calm.last_seen,
                  calm.expected_interval_s)
