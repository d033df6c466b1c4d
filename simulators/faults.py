"""Seeded fault injection: what goes wrong between real devices and ingest. Pure.

Message faults strike each message with probability `rate`:
  duplicates    the same payload published again 0.5-30 s later (a bridge or QoS redelivery)
  late          held back 5-60 simulated minutes (a gateway buffering through an outage)
  out-of-order  held back just past the sensor's next message
  malformed     truncated JSON, garbage bytes, or a DSMR telegram with a bad CRC / cut short
Sensor faults start in each simulated sensor-hour with probability `rate`:
  clock-skew    the device clock runs 1-25 minutes behind or up to 8 ahead, for 1-8 hours
                (only formats whose time comes from the device clock)
  counter-reset the energy counters restart from zero (reflashed plug, lost flash)
  dropout       the sensor falls silent for 15 minutes to 3 hours
  low-battery   a battery-powered sensor's battery reads 3-15 % for 1-24 hours, until it is
                replaced (only sensors that report `battery`)
  stuck         a failed sensing element repeats one value for 1-12 hours: particulate matter
                at 999.9 (a PM sensor's classic failure) or humidity at 99.9 % (a DHT22's);
                only sensors that report one of them

Every decision comes from random streams indexed by the sensor's sample number or
hour, so the same seed strikes the same messages in any window of a plan; every
fault is counted so a run can say what it injected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from simulators.encoders import Message
from simulators.fleet import Sensor
from simulators.signals import EPOCH_S, HOUR, hour_index, uniform

FAULTS: tuple[str, ...] = (
    "duplicates", "late", "out-of-order", "malformed", "clock-skew", "counter-reset", "dropout", "low-battery",
    "stuck",
)
# Formats whose payload time is the device's own clock (LoRaWAN times come from the network
# server, Telraam's from its API; the untimed formats are stamped by ingest).
SKEWABLE = frozenset({"tasmota", "shelly-gen2-rpc", "dsmr", "zigbee2mqtt", "senml"})
_MESSAGE_FAULTS = frozenset({"duplicates", "late", "out-of-order", "malformed"})
_COUNTERS = ("energy_import", "energy_export", "import_t1", "import_t2", "export_t1", "export_t2")
_MAX_MESSAGES_PER_SAMPLE = 4
_DROPOUT_MAX_H = 3
_SKEW_MAX_H = 8
_LOW_BATTERY_MAX_H = 24
_STUCK_MAX_H = 12
# What a failed element reads, per metric it freezes: the values real failures show.
STUCK_VALUES: dict[str, dict[str, float]] = {
    "pm": {"pm1": 999.9, "pm25": 999.9, "pm10": 999.9},
    "humidity": {"humidity": 99.9},
}
LATE_MAX_S = 3600.0
OUT_OF_ORDER_MAX_S = 1800.0 + 31.0


@dataclass(frozen=True, slots=True)
class FaultConfig:
    enabled: frozenset[str] = frozenset()
    rate: float = 0.02

    def __post_init__(self) -> None:
        unknown = sorted(set(self.enabled) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must lie in 0..1, got {self.rate}")

    def on(self, name: str) -> bool:
        return name in self.enabled and self.rate > 0.0


@dataclass(frozen=True, slots=True)
class Struck:
    """A message as faults left it: extra delay, maybe a corrupted payload, and what happened to it."""

    message: Message
    extra_delay_s: float = 0.0
    faults: tuple[str, ...] = ()


def _stream(seed: int, name: str, sensor: Sensor) -> str:
    return f"fault/{name}/{sensor.id}"


@dataclass
class Injector:
    seed: int
    config: FaultConfig
    counts: Counter[str] = field(default_factory=Counter)
    # Per sensor and counter: what the device has lost to injected resets, and the last raw value seen.
    _reset_offset: dict[tuple[str, str], float] = field(default_factory=dict)
    _last_raw: dict[tuple[str, str], float] = field(default_factory=dict)

    # --- sensor faults (on samples, before encoding) -----------------------------------------------

    def _episodes(self, sensor: Sensor, name: str, t: NDArray[np.int64], max_hours: int,
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Episodes (start, end, parameter uniform) that may cover times t."""
        h0 = int(hour_index(t.min())) - max_hours
        n = int(hour_index(t.max())) - h0 + 1
        u = uniform(self.seed, _stream(self.seed, name, sensor), 3 * h0, 3 * n).reshape(n, 3)
        hit = np.nonzero(u[:, 0] < self.config.rate)[0]
        starts = EPOCH_S + (h0 + hit) * HOUR + u[hit, 1] * HOUR
        return starts, u[hit, 2], u[hit, 1]

    def dropped(self, sensor: Sensor, t: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which samples a dropout silences."""
        mask = np.zeros(len(t), dtype=np.bool_)
        if not self.config.on("dropout") or not len(t):
            return mask
        starts, p, _ = self._episodes(sensor, "dropout", t, _DROPOUT_MAX_H)
        ends = starts + 900.0 + p * (_DROPOUT_MAX_H * HOUR - 900.0)
        for a, b in zip(starts, ends, strict=True):
            mask |= (t >= a) & (t < b)
        return mask

    def skew(self, sensor: Sensor, t: NDArray[np.int64]) -> NDArray[np.int64]:
        """Seconds the device clock is off at each sample (0 when right)."""
        off = np.zeros(len(t), dtype=np.int64)
        if not self.config.on("clock-skew") or sensor.format not in SKEWABLE or not len(t):
            return off
        starts, p, q = self._episodes(sensor, "clock-skew", t, _SKEW_MAX_H)
        ends = starts + HOUR + p * (_SKEW_MAX_H - 1) * HOUR
        for a, b, x in zip(starts, ends, q, strict=True):
            seconds = round(-1500.0 + 1980.0 * float(x))
            if abs(seconds) < 60:
                seconds = -61 if seconds < 0 else 61
            # Never a whole number of minutes or intervals: a skewed time must not land on another
            # sample's time, or the database would keep one of the two and tests could not tell which.
            if seconds % 60 == 0 or seconds % sensor.interval_s == 0:
                seconds += 7
            off = np.where((t >= a) & (t < b), seconds, off)
        return off

    def low_battery(self, sensor: Sensor, t: NDArray[np.int64]) -> NDArray[np.float64]:
        """The battery % a failing battery shows at each sample; NaN where the battery is fine."""
        low = np.full(len(t), np.nan)
        if not self.config.on("low-battery") or not len(t):
            return low
        starts, p, q = self._episodes(sensor, "low-battery", t, _LOW_BATTERY_MAX_H)
        ends = starts + HOUR + p * (_LOW_BATTERY_MAX_H - 1) * HOUR
        for a, b, x in zip(starts, ends, q, strict=True):
            low = np.where((t >= a) & (t < b), np.floor(3.0 + 12.0 * float(x)), low)
        return low

    def stuck(self, sensor: Sensor, t: NDArray[np.int64], metrics: frozenset[str]) -> list[dict[str, float]]:
        """Per sample, the metrics a failed element freezes and the value each repeats (empty: none).
        `metrics`: what the sensor reports; an episode freezes its PM or its humidity, whichever it has."""
        frozen: list[dict[str, float]] = [{} for _ in range(len(t))]
        if not self.config.on("stuck") or not len(t):
            return frozen
        options = [{m: v for m, v in values.items() if m in metrics} for values in STUCK_VALUES.values()]
        options = [o for o in options if o]
        if not options:
            return frozen
        starts, p, q = self._episodes(sensor, "stuck", t, _STUCK_MAX_H)
        ends = starts + HOUR + p * (_STUCK_MAX_H - 1) * HOUR
        for a, b, x in zip(starts, ends, q, strict=True):
            values = options[min(int(float(x) * len(options)), len(options) - 1)]
            for i in np.nonzero((t >= a) & (t < b))[0]:
                frozen[int(i)] = values
        return frozen

    def count_stuck(self, n: int) -> None:
        if n:
            self.counts["stuck"] += n

    def count_low_battery(self, n: int) -> None:
        if n:
            self.counts["low-battery"] += n

    def reset_points(self, sensor: Sensor, t: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Samples at which the device's energy counters restart from zero."""
        mask = np.zeros(len(t), dtype=np.bool_)
        if not self.config.on("counter-reset") or sensor.kind != "energy" or not len(t):
            return mask
        starts, _, _ = self._episodes(sensor, "counter-reset", t, 0)
        for a in starts:
            after = np.nonzero(t >= a)[0]
            if len(after):
                i = after[0]
                if t[i] - a < sensor.interval_s:  # the first sample after the reset, not a later window's
                    mask[i] = True
        return mask

    def counters(self, sensor: Sensor, values: dict[str, float], reset_here: bool, t: int,
                 count: bool = True) -> dict[str, float]:
        """The counter values the device shows, given injected resets so far (call in time order)."""
        out = dict(values)
        natural = False
        for name in _COUNTERS:
            if name not in values:
                continue
            key = (sensor.id, name)
            raw = values[name]
            last = self._last_raw.get(key)
            if last is not None and raw < last - 1e-9:
                natural = True  # the simulated device reset by itself: nothing left to subtract
            self._last_raw[key] = raw
        for name in _COUNTERS:
            if name not in values:
                continue
            key = (sensor.id, name)
            if natural:
                self._reset_offset.pop(key, None)
            if reset_here:
                self._reset_offset[key] = values[name]
            out[name] = values[name] - self._reset_offset.get(key, 0.0)
        if reset_here:
            if count:
                self.counts["counter-reset"] += 1
            out["counter_since"] = float(t)
        return out

    # --- message faults (after encoding) -----------------------------------------------------------

    def messages(self, sensor: Sensor, index: int, messages: list[Message]) -> list[Struck]:
        """The messages of sample `index` as the faults leave them (possibly more, with duplicates).
        Not counted here: the plan counts the faults of the messages that fall in its period."""
        cfg = self.config
        if not cfg.enabled & _MESSAGE_FAULTS or cfg.rate <= 0.0:
            return [Struck(m) for m in messages]
        out: list[Struck] = []
        for j, msg in enumerate(messages):
            slot = (index * _MAX_MESSAGES_PER_SAMPLE + j) * 3
            struck = Struck(msg)
            if cfg.on("malformed"):
                u = uniform(self.seed, _stream(self.seed, "malformed", sensor), slot, 3)
                if u[0] < cfg.rate:
                    struck = Struck(replace(msg, payload=corrupt(sensor.format, msg.payload, u[1], u[2]),
                                            readings=()), 0.0, ("malformed",))
            if cfg.on("late"):
                u = uniform(self.seed, _stream(self.seed, "late", sensor), slot, 3)
                if u[0] < cfg.rate:
                    struck = replace(struck, extra_delay_s=300.0 + u[1] * (LATE_MAX_S - 300.0),
                                     faults=(*struck.faults, "late"))
            if cfg.on("out-of-order") and "late" not in struck.faults:
                u = uniform(self.seed, _stream(self.seed, "out-of-order", sensor), slot, 3)
                if u[0] < cfg.rate:
                    delay = min(float(sensor.interval_s), 1800.0) + 1.0 + 30.0 * u[1]
                    struck = replace(struck, extra_delay_s=delay, faults=(*struck.faults, "out-of-order"))
            out.append(struck)
            if cfg.on("duplicates"):
                u = uniform(self.seed, _stream(self.seed, "duplicates", sensor), slot, 3)
                if u[0] < cfg.rate:
                    out.append(replace(struck, extra_delay_s=struck.extra_delay_s + 0.5 + 29.5 * u[1],
                                       faults=(*struck.faults, "duplicate")))
        return out

    def count_dropped(self, n: int) -> None:
        if n:
            self.counts["dropout"] += n

    def count_skewed(self, n: int) -> None:
        if n:
            self.counts["clock-skew"] += n


def corrupt(fmt: str, payload: bytes, u1: float, u2: float) -> bytes:
    """A payload as a flaky link or a buggy bridge delivers it; always one ingest must reject."""
    if fmt == "shelly-gen1":
        return b"\xff\xfe" + payload[::-1] + b"\x00"  # bytes that are no ASCII number
    if fmt == "dsmr":
        if u1 < 0.5:
            # A digit flipped in transit: the CRC no longer matches.
            body_end = payload.rindex(b"!")
            digits = [i for i in range(body_end) if 48 <= payload[i] <= 57]
            i = digits[int(u2 * len(digits))]
            flipped = bytes([48 + (payload[i] - 48 + 1 + int(u2 * 8)) % 10])
            return payload[:i] + flipped + payload[i + 1:]
        return payload[: max(1, int(len(payload) * (0.2 + 0.6 * u2)))]  # cut off before the '!'
    if u1 < 0.7:
        # Truncated JSON: a document cut before its last closing bracket never parses.
        return payload[: max(1, int((len(payload) - 1) * (0.1 + 0.8 * u2)))]
    return b"\xff\x00garbage\x1b" + payload[: int(len(payload) * u2) // 4]
