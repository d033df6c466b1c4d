"""Energy: loads by profile, PV, and the meter registers integrated from the epoch (with resets). Pure (numpy only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulators.fleet import Sensor
from simulators.signals.base import DAY, EPOCH_S, F64, HOUR, I64, SignalError
from simulators.signals.city_weather import _horizon, weather
from simulators.signals.clock import _check_time, _interp_daily, _weekly, local_midnight, local_time, solar_elevation
from simulators.signals.curves import _HOUSEHOLD, _PROFILES
from simulators.signals.sampling import Samples, _key, _per_day, sample_index
from simulators.signals.streams import normal, stable_fraction, uniform


@dataclass(frozen=True, slots=True)
class _Counters:
    """Hourly knots of a meter from the epoch: net power and the cumulative registers."""

    net_w: F64  # net power at each hour knot (import positive)
    cum: Mapping[str, F64]  # register → kWh at each hour knot since the epoch (no resets)
    slope: Mapping[str, tuple[F64, F64]]  # register → (kW at knot, kW at next knot) the register integrates
    resets: I64  # natural counter resets (device reflashed, power loss on a meter without flash)
    start_kwh: float


def _energy_params(sensor: Sensor) -> tuple[str, float, float, float]:
    profile = str(sensor.meta("profile", "household"))
    if profile not in _PROFILES:
        raise SignalError(f"{sensor.id}: unknown energy profile {profile!r}; expected one of {', '.join(_PROFILES)}")
    default_base, default_peak = {"household": (160.0, 1100.0), "office": (900.0, 9000.0),
                                  "school": (600.0, 14000.0)}[profile]
    base = float(sensor.meta("base_w", default_base))
    peak = float(sensor.meta("peak_w", default_peak))
    pv = float(sensor.meta("pv_kwp", 0.0))
    return profile, base, peak, pv


def _pv_w(kwp: float, t: I64, cloud: F64) -> F64:
    elevation = solar_elevation(t)
    clear = np.clip(np.sin(np.radians(np.clip(elevation, 0.0, 90.0))), 0.0, 1.0) ** 1.2
    return kwp * 1000.0 * 0.85 * clear * (1.0 - 0.8 * cloud)


@lru_cache(maxsize=256)
def _counters(seed: int, sensor: Sensor, h_end: int) -> _Counters:
    profile, base, peak, pv_kwp = _energy_params(sensor)
    hours = np.arange(0, h_end + 2, dtype=np.int64)
    t = EPOCH_S + hours * HOUR
    lt = local_time(t)
    weekday_curve, weekend_curve = _PROFILES[profile]
    shape = _weekly(weekday_curve, weekend_curve, lt)
    day_factor = _per_day(seed, sensor, "energy/day", lt.day, 0.18)
    season = np.cos(2 * np.pi * (lt.doy - 15.0) / 365.2425)  # +1 mid-January: lights, heating pumps
    load = (base + (peak - base) * shape * day_factor) * (1.0 + 0.15 * season)
    wx = weather(seed, 0, h_end + 2)
    cloud = wx.cloud[: len(hours)]
    net = load - (_pv_w(pv_kwp, t, cloud) if pv_kwp > 0 else 0.0)
    day_tariff = (lt.weekday < 5) & (lt.hour >= 7.0) & (lt.hour < 22.0)
    imp_kw = np.clip(net, 0.0, None) / 1000.0
    exp_kw = np.clip(-net, 0.0, None) / 1000.0
    # Belgian tariffs: 1 = day (weekdays 07-22 local), 2 = night and weekends.
    # Belgian tariffs: 1 = day (weekdays 07-22 local), 2 = night and weekends; a register runs during
    # the hours of its tariff, so tariff 1 + tariff 2 is exactly the total.
    rates: dict[str, tuple[F64, F64]] = {"import": (imp_kw[:-1], imp_kw[1:]), "export": (exp_kw[:-1], exp_kw[1:])}
    for total in ("import", "export"):
        a, b = rates[total]
        mask = day_tariff[:-1]
        rates[f"{total}_t1"] = (np.where(mask, a, 0.0), np.where(mask, b, 0.0))
        rates[f"{total}_t2"] = (np.where(mask, 0.0, a), np.where(mask, 0.0, b))
    if sensor.meta("gas", False):
        heating = float(sensor.meta("gas_m3_per_degree_hour", 0.02)) * np.clip(
            16.5 - wx.temperature[: len(hours)], 0.0, None
        ) * np.where((lt.hour >= 23.0) | (lt.hour < 6.0), 0.55, 1.0)
        hot_water = 0.06 * _interp_daily(_HOUSEHOLD[0], lt.hour)
        gas = (heating + hot_water) * day_factor
        rates["gas"] = (gas[:-1], gas[1:])
    cum = {name: np.concatenate(([0.0], np.cumsum((a + b) / 2.0))) for name, (a, b) in rates.items()}
    reset_per_year = float(sensor.meta("resets_per_year", 0.0 if sensor.format == "dsmr" else 1.0))
    days = h_end // 24 + 1
    u = uniform(seed, _key(sensor, "energy/reset"), 0, 2 * days)
    hit = np.nonzero(u[0::2] < reset_per_year / 365.0)[0]
    resets = (EPOCH_S + hit * DAY + (u[1::2][hit] * DAY).astype(np.int64)).astype(np.int64)
    start = float(sensor.meta("counter_start_kwh", round(800.0 + 9000.0 * stable_fraction(sensor.id + "/kwh"), 3)))
    return _Counters(net, cum, rates, resets, start)


def _register(c: _Counters, name: str, t: I64 | F64) -> F64:
    """kWh (m3 for gas) accumulated since the epoch at times t: exact integral of the piecewise-linear rate."""
    x = (np.asarray(t, dtype=np.float64) - EPOCH_S) / HOUR
    h = np.floor(x).astype(np.int64)
    f = x - h
    a, b = c.slope[name][0][h], c.slope[name][1][h]
    result: F64 = c.cum[name][h] + a * f + (b - a) * f * f / 2.0
    return result


def _with_resets(c: _Counters, name: str, t: I64, start: float) -> F64:
    """A register as the device shows it: `start` plus what accrued, from zero after each reset."""
    raw = _register(c, name, t)
    out: F64 = raw + start
    i = np.searchsorted(c.resets, t, side="right") - 1
    after = i >= 0
    # Only resets at or before a sample are looked up: a later one may lie past the counter table.
    out[after] = raw[after] - _register(c, name, c.resets[i[after]])
    return out


def energy(seed: int, sensor: Sensor, t: I64) -> Samples:
    _check_time(t)
    if not len(t):
        return Samples(sensor, t, {})
    c = _counters(seed, sensor, _horizon(t))
    profile = _energy_params(sensor)[0]
    idx = sample_index(sensor, t)
    x = (t.astype(np.float64) - EPOCH_S) / HOUR
    h = np.floor(x).astype(np.int64)
    net = c.net_w[h] + (c.net_w[h + 1] - c.net_w[h]) * (x - h)
    z = normal(seed, _key(sensor, "energy/noise"), int(idx[0]), len(t))
    power = net * (1.0 + 0.06 * z)
    if profile == "household":
        # Kettles, hair dryers, ovens (a compressor start on a fridge plug): short loads a sample catches.
        spike = uniform(seed, _key(sensor, "energy/spike"), int(idx[0]), len(t))
        lt = local_time(t)
        awake = (lt.hour >= 6.5) & (lt.hour < 23.0)
        peak = _energy_params(sensor)[2]
        power = power + np.where(awake & (spike < 0.05), peak * (0.8 + 1.4 * spike / 0.05), 0.0)
    zv = normal(seed, _key(sensor, "energy/voltage"), int(idx[0]), len(t))
    lt = local_time(t)
    grid_load = _weekly(_HOUSEHOLD[0], _HOUSEHOLD[1], lt)
    voltage = np.clip(234.0 - 5.0 * grid_load + 1.3 * zv, 216.0, 248.0)
    pf = np.clip(0.55 + 0.4 * np.clip(np.abs(power) / 1500.0, 0.0, 1.0) + 0.02 * zv, 0.35, 1.0)
    apparent = np.abs(power) / pf
    reactive = np.sqrt(np.clip(apparent**2 - power**2, 0.0, None))
    current = apparent / voltage
    frequency = 50.0 + 0.018 * normal(seed, _key(sensor, "energy/frequency"), int(idx[0]), len(t))
    start = c.start_kwh
    values: dict[str, F64] = {
        "power": power,
        "voltage": voltage,
        "current": current,
        "power_factor": pf,
        "apparent_power": apparent,
        "reactive_power": reactive,
        "frequency": frequency,
        "energy_import": _with_resets(c, "import", t, start),
        "energy_export": _with_resets(c, "export", t, 0.0),
        "import_t1": _with_resets(c, "import_t1", t, start * 0.55),
        "import_t2": _with_resets(c, "import_t2", t, start * 0.45),
        "export_t1": _with_resets(c, "export_t1", t, 0.0),
        "export_t2": _with_resets(c, "export_t2", t, 0.0),
    }
    midnight = local_midnight(t)
    yesterday = local_midnight(midnight - 1)
    values["today"] = _register(c, "import", t) - _register(c, "import", midnight)
    values["yesterday"] = _register(c, "import", midnight) - _register(c, "import", yesterday)
    values["period_wh"] = 1000.0 * (_register(c, "import", t) - _register(c, "import", np.maximum(
        t - sensor.interval_s, EPOCH_S)))
    if "gas" in c.cum:
        # The gas meter reports over M-Bus every 5 minutes: the P1 telegram carries its last value and time.
        gas_t = (t // 300) * 300
        values["gas_time"] = gas_t.astype(np.float64)
        values["gas_volume"] = float(sensor.meta("gas_start_m3", 1200.0 * stable_fraction(sensor.id + "/gas"))) + (
            _register(c, "gas", gas_t)
        )
    return Samples(sensor, t, values)
