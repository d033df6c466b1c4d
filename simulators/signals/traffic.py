"""Mobility (Telraam): Poisson counts per mode around the daily curves, and the v85 speed. Pure (numpy only)."""

from __future__ import annotations

import math

import numpy as np

from simulators.fleet import Sensor
from simulators.signals.base import F64, HOUR, I64
from simulators.signals.city_weather import weather_for
from simulators.signals.clock import _check_time, _weekly, local_time, solar_elevation
from simulators.signals.curves import _BIKES, _CARS, _HEAVY, _PEDESTRIANS
from simulators.signals.sampling import Samples, _key, _per_day, sample_index
from simulators.signals.streams import normal, uniform

_K = np.arange(0, 200, dtype=np.float64)
_LOG_FACTORIAL = np.array([math.lgamma(v + 1.0) for v in _K])


def poisson(lam: F64, u: F64, z: F64) -> F64:
    """Poisson draws from given uniforms (exact inversion up to mean 60) or normals (above)."""
    lam = np.asarray(lam, dtype=np.float64)
    small = lam <= 60.0
    k = _K
    lam_s = np.where(small, lam, 0.0)[:, None]
    # log pmf, cumulative, first k whose cdf reaches u
    logp = k[None, :] * np.log(np.clip(lam_s, 1e-300, None)) - lam_s - _LOG_FACTORIAL
    cdf = np.cumsum(np.exp(logp), axis=1)
    inv = np.argmax(cdf >= u[:, None], axis=1).astype(np.float64)
    inv = np.where(lam == 0.0, 0.0, inv)
    approx = np.clip(np.round(lam + np.sqrt(lam) * z), 0.0, None)
    return np.where(small, inv, approx)


def mobility(seed: int, sensor: Sensor, t: I64) -> Samples:
    """Hourly Telraam counts for the hours starting at t. Counts are extrapolated by uptime, hence floats."""
    _check_time(t)
    if not len(t):
        return Samples(sensor, t, {})
    wx = weather_for(seed, t)
    lt = local_time(t)
    idx0 = int(sample_index(sensor, t[:1])[0])
    n = len(t)
    season = np.cos(2 * np.pi * (lt.doy - 200.0) / 365.2425)
    rain = wx.raining(t)
    day = _per_day(seed, sensor, "mobility/day", lt.day, 0.12)
    peaks = {
        "bikes": (float(sensor.meta("bikes_peak", 320.0)), _BIKES, (1.0 + 0.12 * season) * np.where(rain, 0.55, 1.0)),
        "cars": (float(sensor.meta("cars_peak", 420.0)), _CARS, np.where(rain, 1.08, 1.0)),
        "pedestrians": (float(sensor.meta("pedestrians_peak", 90.0)), _PEDESTRIANS,
                        (1.0 + 0.15 * season) * np.where(rain, 0.65, 1.0)),
        "heavy_vehicles": (float(sensor.meta("heavy_peak", 35.0)), _HEAVY, np.ones(n)),
    }
    # Telraam V1 counts only in daylight; the S2 counts around the clock at a somewhat higher uptime.
    daylight = solar_elevation(t + HOUR // 2) > 2.0
    s2 = sensor.model.upper().endswith("S2")
    u_up = uniform(seed, _key(sensor, "mobility/uptime"), idx0, n)
    uptime = np.where(s2, 0.86 + 0.13 * u_up, 0.55 + 0.3 * u_up)
    reported = np.ones(n, dtype=np.bool_) if s2 else daylight
    values: dict[str, F64] = {"uptime": np.asarray(np.round(uptime, 10), dtype=np.float64),
                              "reported": reported.astype(np.float64)}
    for name, (peak, (weekday, weekend), factor) in peaks.items():
        lam = peak * _weekly(weekday, weekend, lt) * factor * day
        counted = poisson(lam * uptime, uniform(seed, _key(sensor, f"mobility/{name}"), idx0, n),
                          normal(seed, _key(sensor, f"mobility/{name}"), idx0, n))
        values[name] = counted / uptime
        values[f"{name}_lft_share"] = np.clip(
            0.5 + 0.08 * normal(seed, _key(sensor, f"mobility/{name}-dir"), idx0, n), 0.2, 0.8
        )
    limit = float(sensor.meta("speed_limit", 50.0))
    congestion = _weekly(_CARS[0], _CARS[1], lt)
    values["speed_v85"] = np.round(
        (limit * 1.08 - 0.12 * limit * congestion + 1.6 * normal(seed, _key(sensor, "mobility/v85"), idx0, n)) * 2
    ) / 2
    return Samples(sensor, t, values)
