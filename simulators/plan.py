"""The plan: fleet + period + seed + faults → the ordered MQTT messages and the readings each must yield.

Pure. The period bounds *publish* times: a plan for [start, end) holds what the
fleet publishes in that period, including reports of earlier measurements
(Telraam publishes an hour's counts after the hour; late messages arrive late).
So consecutive periods make up a longer one, and a live run, a backfill and a
test all see the same traffic for the same seed.

Events are produced lazily, window by window, in publish order, so a month of
history or an endless live run never sits in memory at once.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from models.reading import Reading
from simulators.encoders import BRUSSELS, Sample, encode
from simulators.faults import LATE_MAX_S, OUT_OF_ORDER_MAX_S, FaultConfig, Injector
from simulators.fleet import Fleet
from simulators.signals import EPOCH_S, sample_index, sample_times, simulate, uniform

# How long before a period a measurement can have been taken and still be published in it:
# Telraam's hour plus the API polling, and a late fault on top.
LOOKBACK_S = 3600 + 600 + int(max(LATE_MAX_S, OUT_OF_ORDER_MAX_S)) + 60
_WINDOW_S = 24 * 3600
_ENCODE_UNIFORMS = 8
_FAULT_NAMES = {"duplicate": "duplicates"}  # an event's tag → the fault's name


@dataclass(frozen=True, slots=True)
class Event:
    publish_at: float  # simulated UTC epoch seconds
    seq: int  # generation order: ties in publish time keep it
    topic: str
    payload: bytes
    readings: tuple[Reading, ...]  # what ingest must store for it (time None: its receive time)
    sensor_id: str
    format: str
    measured_at: int  # when the device measured (UTC epoch seconds, true clock)
    faults: tuple[str, ...] = ()

    @property
    def publish_time(self) -> datetime:
        return datetime.fromtimestamp(self.publish_at, UTC)

    @property
    def malformed(self) -> bool:
        return "malformed" in self.faults

    @property
    def duplicate(self) -> bool:
        return "duplicate" in self.faults

    @property
    def timed(self) -> bool:
        """Whether the payload carries its readings' time (else ingest stamps the receive time)."""
        return all(r.time is not None for r in self.readings)


@dataclass
class PlanStats:
    messages: Counter[str] = field(default_factory=Counter)  # per format
    readings: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def add(self, event: Event) -> None:
        self.messages[event.format] += 1
        self.readings += len(event.readings)
        for tag in event.faults:
            self.faults[_FAULT_NAMES.get(tag, tag)] += 1


@dataclass(frozen=True, slots=True)
class Plan:
    events: tuple[Event, ...]
    stats: PlanStats

    def __len__(self) -> int:
        return len(self.events)


def _epoch(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("plan times must be timezone-aware")
    return int(t.timestamp())


def iter_events(
    fleet: Fleet,
    start: datetime,
    end: datetime | None,
    seed: int,
    faults: FaultConfig | None = None,
    tz: ZoneInfo = BRUSSELS,
    stats: PlanStats | None = None,
) -> Iterator[Event]:
    """Events published in [start, end) in publish order; end None: forever (a live run)."""
    start_s = _epoch(start)
    end_s = None if end is None else _epoch(end)
    if start_s - LOOKBACK_S < EPOCH_S:
        raise ValueError("simulated periods must start after 2024-01-01T04:00:00Z")
    if end_s is not None and end_s <= start_s:
        return
    injector = Injector(seed, faults or FaultConfig())
    if stats is not None:
        stats.faults = injector.counts
    pending: list[tuple[float, int, Event]] = []
    seq = 0
    w0 = start_s - LOOKBACK_S
    while end_s is None or w0 < end_s:
        w1 = w0 + _WINDOW_S if end_s is None else min(w0 + _WINDOW_S, end_s)
        for sensor in fleet.sensors:
            t = sample_times(sensor, w0, w1)
            if not len(t):
                continue
            k = sample_index(sensor, t)
            dropped = injector.dropped(sensor, t)
            resets = injector.reset_points(sensor, t)
            skew = injector.skew(sensor, t)
            low_battery = injector.low_battery(sensor, t).tolist()
            keep = ~dropped
            injector.count_dropped(int(np.count_nonzero(dropped & (t >= start_s))))  # not the look-back
            samples = simulate(seed, sensor, t)
            stuck = injector.stuck(sensor, t, frozenset(samples.values))
            u = uniform(seed, f"encode/{sensor.id}", int(k[0]) * _ENCODE_UNIFORMS, len(t) * _ENCODE_UNIFORMS)
            u = u.reshape(len(t), _ENCODE_UNIFORMS)
            names = list(samples.values)
            columns = [samples.values[n].tolist() for n in names]
            times, indices, skews, resets_l, keep_l = t.tolist(), k.tolist(), skew.tolist(), resets.tolist(), \
                keep.tolist()
            urows = u.tolist()
            for i, ti in enumerate(times):
                if not keep_l[i]:
                    continue
                values = {n: col[i] for n, col in zip(names, columns, strict=True)}
                if "counter_since" not in values and sensor.kind == "energy":
                    values["counter_since"] = float(EPOCH_S)
                if injector.config.on("counter-reset"):
                    values = injector.counters(sensor, values, resets_l[i], ti, count=ti >= start_s)
                if stuck[i]:
                    values.update(stuck[i])
                    if ti >= start_s:
                        injector.count_stuck(1)
                if "battery" in values and low_battery[i] == low_battery[i]:  # not NaN: a failing battery
                    values["battery"] = low_battery[i]
                    if ti >= start_s:
                        injector.count_low_battery(1)
                device_t = ti + skews[i]
                if skews[i]:
                    if "gas_time" in values:
                        values["gas_time"] += skews[i]
                    if ti >= start_s:
                        injector.count_skewed(1)
                messages = encode(Sample(sensor, device_t, indices[i], values, urows[i], tz))
                for struck in injector.messages(sensor, indices[i], messages):
                    msg = struck.message
                    at = ti + msg.delay_s + struck.extra_delay_s
                    if at < start_s or (end_s is not None and at >= end_s):
                        continue
                    event = Event(at, seq, msg.topic, msg.payload, msg.readings, sensor.id, sensor.format, ti,
                                  struck.faults)
                    heapq.heappush(pending, (at, seq, event))
                    seq += 1
        # Everything measured from w1 on is published at w1 or later: what is due before w1 is final.
        while pending and pending[0][0] < w1:
            event = heapq.heappop(pending)[2]
            if stats is not None:
                stats.add(event)
            yield event
        w0 = w1
    while pending:
        event = heapq.heappop(pending)[2]
        if stats is not None:
            stats.add(event)
        yield event


def build_plan(
    fleet: Fleet,
    start: datetime,
    end: datetime,
    seed: int,
    faults: FaultConfig | None = None,
    tz: ZoneInfo = BRUSSELS,
) -> Plan:
    stats = PlanStats()
    events = tuple(iter_events(fleet, start, end, seed, faults, tz, stats))
    return Plan(events, stats)


def expected_rows(events: list[Event] | tuple[Event, ...]) -> tuple[dict[tuple[str, str, datetime], float],
                                                                   Counter[tuple[str, str]]]:
    """What the database must hold after ingesting the events in order.

    Timed readings: (sensor, metric, time) → value, the first arrival of a key winning (the
    readings table keeps one row per key, a redelivery is not stored again). Untimed readings
    (time from ingest's clock): how many rows per (sensor, metric), one per message.
    """
    timed: dict[tuple[str, str, datetime], float] = {}
    untimed: Counter[tuple[str, str]] = Counter()
    for event in events:
        for r in event.readings:
            if r.time is None:
                untimed[(r.sensor_id, r.metric)] += 1
            else:
                timed.setdefault((r.sensor_id, r.metric, r.time), r.value)
    return timed, untimed


def period(end: datetime, duration: timedelta) -> tuple[datetime, datetime]:
    return end - duration, end
