"""Per-sensor sampling: when a sensor measures, its per-day variation, the Samples it returns. Pure (numpy only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulators.fleet import Sensor
from simulators.signals.base import EPOCH_S, F64, I64
from simulators.signals.streams import normal, stable_fraction


def _key(sensor: Sensor, stream: str) -> str:
    return f"{sensor.id}/{stream}"


def _per_day(seed: int, sensor: Sensor, stream: str, day: I64, sigma: float) -> F64:
    """A lognormal factor per local day (the day's mood: a busy day, a quiet one)."""
    d0 = int(day.min())
    z = normal(seed, _key(sensor, stream), d0, int(day.max()) - d0 + 1)
    return np.exp(sigma * z[day - d0] - 0.5 * sigma * sigma)


def sample_times(sensor: Sensor, start_s: int, end_s: int) -> I64:
    """The sensor's measurement times in [start, end): a fixed grid from the epoch with a per-sensor phase,
    so sensors do not all report on the same second and any window gives the same grid points."""
    step = sensor.interval_s
    phase = 0 if sensor.format == "telraam" else int(stable_fraction(sensor.id) * step)
    k0 = -((EPOCH_S + phase - start_s) // step)  # ceil((start - epoch - phase) / step)
    k1 = -((EPOCH_S + phase - end_s) // step)
    return (EPOCH_S + phase + np.arange(k0, k1, dtype=np.int64) * step).astype(np.int64)


def sample_index(sensor: Sensor, t: I64) -> I64:
    phase = 0 if sensor.format == "telraam" else int(stable_fraction(sensor.id) * sensor.interval_s)
    return ((t - EPOCH_S - phase) // sensor.interval_s).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Samples:
    """Simulated values of one sensor at its sample times; `values` are canonical units unless named
    otherwise (extras the vendor formats need: tariffs, today/yesterday, gas meter time…)."""

    sensor: Sensor
    times: I64  # UTC epoch seconds of each measurement
    values: Mapping[str, F64]

    def __len__(self) -> int:
        return len(self.times)
