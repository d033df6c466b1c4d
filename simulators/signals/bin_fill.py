"""Bins: litter arriving over the day, emptying on collection days, the ultrasonic distance. Pure (numpy only)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from simulators.fleet import Sensor
from simulators.signals.air_quality import _battery
from simulators.signals.base import EPOCH_S, F64, HOUR, I64, SignalError
from simulators.signals.city_weather import _horizon
from simulators.signals.clock import _check_time, _weekly, local_time
from simulators.signals.curves import _A
from simulators.signals.sampling import Samples, _key, _per_day, sample_index
from simulators.signals.streams import normal, stable_fraction, uniform

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BIN_ACTIVITY = (  # how fast litter arrives across the day (relative)
    _A([.15, .10, .06, .05, .05, .08, .30, .80, 1.1, 1.2, 1.3, 1.6, 1.9, 1.8, 1.5, 1.4, 1.5, 1.6, 1.5, 1.3,
        1.0, .70, .45, .25]),
    _A([.25, .18, .12, .08, .06, .06, .10, .25, .50, .90, 1.3, 1.7, 2.0, 2.1, 2.0, 1.9, 1.8, 1.6, 1.4, 1.2,
        1.0, .80, .55, .35]),
)
BIN_BLIND_MM = 30  # the ultrasonic sensor cannot see closer: an overflowing bin reads this


def _collection_days(sensor: Sensor) -> tuple[int, ...]:
    raw = sensor.meta("collection_days", ["mon", "thu"])
    if not isinstance(raw, list | tuple) or not all(isinstance(d, str) and d in _WEEKDAYS for d in raw):
        raise SignalError(f"{sensor.id}: collection_days must be a list of {', '.join(_WEEKDAYS)}")
    return tuple(_WEEKDAYS.index(d) for d in raw)


@lru_cache(maxsize=256)
def _bin_state(seed: int, sensor: Sensor, h_end: int) -> tuple[F64, I64, F64]:
    """Cumulative litter (percent of the bin) at each hour knot, collection times, residual after each."""
    hours = np.arange(0, h_end + 2, dtype=np.int64)
    t = EPOCH_S + hours * HOUR
    lt = local_time(t)
    rate = float(sensor.meta("fill_rate_per_day", 25.0))  # percent of the bin per day, the site's pace
    weekend_factor = float(sensor.meta("weekend_factor", 1.0))
    activity = _weekly(_BIN_ACTIVITY[0], _BIN_ACTIVITY[1], lt)
    mean_activity = float(np.mean(_BIN_ACTIVITY[0]))
    day = _per_day(seed, sensor, "bin/day", lt.day, 0.3)
    per_hour = rate / 24.0 * activity / mean_activity * day * np.where(lt.weekday >= 5, weekend_factor, 1.0)
    cum = np.concatenate(([0.0], np.cumsum((per_hour[:-1] + per_hour[1:]) / 2.0)))
    collect_days = _collection_days(sensor)
    collect_hour = int(sensor.meta("collection_hour", 7))
    is_collection = np.isin(lt.weekday, collect_days) & (np.floor(lt.hour).astype(np.int64) == collect_hour)
    knots = np.nonzero(is_collection)[0]
    u = uniform(seed, _key(sensor, "bin/collection"), 0, 3 * (h_end // 24 + 2))
    day_of = lt.day[knots]
    missed = u[3 * day_of] < float(sensor.meta("missed_collection_rate", 0.04))
    knots, day_of = knots[~missed], day_of[~missed]
    minute = (u[3 * day_of + 1] * 50).astype(np.int64) * 60  # the truck passes some time in that hour
    times = (EPOCH_S + knots * HOUR + minute).astype(np.int64)
    residual = 0.5 + 3.5 * u[3 * day_of + 2]
    return cum, times, residual


def bins(seed: int, sensor: Sensor, t: I64) -> Samples:
    _check_time(t)
    if not len(t):
        return Samples(sensor, t, {})
    cum, collections, residual = _bin_state(seed, sensor, _horizon(t))

    def litter(times: I64) -> F64:
        x = (times.astype(np.float64) - EPOCH_S) / HOUR
        h = np.floor(x).astype(np.int64)
        result: F64 = cum[h] + (cum[h + 1] - cum[h]) * (x - h)
        return result

    i = np.searchsorted(collections, t, side="right") - 1
    since = np.where(i >= 0, litter(collections[np.clip(i, 0, None)]), 0.0)
    # Before the first collection since the epoch, a bin starts part-full.
    base = np.where(i >= 0, residual[np.clip(i, 0, None)], 100.0 * stable_fraction(sensor.id + "/fill") * 0.6)
    fill = base + litter(t) - since  # may exceed 100: overflowing, litter piles up beside the bin
    depth = float(sensor.metadata["depth_mm"])
    idx0 = int(sample_index(sensor, t[:1])[0])
    noise = 6.0 * normal(seed, _key(sensor, "bin/echo"), idx0, len(t))
    distance = np.clip(np.round(depth * (1.0 - np.clip(fill, 0.0, 100.0) / 100.0) + noise), BIN_BLIND_MM,
                       depth + 60.0)
    tilt = uniform(seed, _key(sensor, "bin/tilt"), idx0, len(t)) < float(sensor.meta("tilt_rate", 0.01))
    return Samples(sensor, t, {
        "fill_true": fill,
        "distance": distance,
        "tilted": tilt.astype(np.float64),
        "battery": np.floor(_battery(sensor, t, float(sensor.meta("battery_drain_per_day", 0.05)))),
    })


def collections(seed: int, sensor: Sensor, start_s: int, end_s: int) -> I64:
    """When the bin was emptied in [start, end) (for tests and dashboards)."""
    _, times, _ = _bin_state(seed, sensor, _horizon(np.array([end_s], dtype=np.int64)))
    return times[(times >= start_s) & (times < end_s)]
