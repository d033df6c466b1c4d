"""Realistic, deterministic signals for the simulated sensors. Pure (numpy only).

Every value is a function of (seed, sensor, absolute time) alone, never of the
window it is computed for: random numbers come from counter-based streams (PCG64
advanced to the sample's absolute index), slow processes are AR(1) filters over
those streams, and counters integrate from a fixed epoch. So a backfill and a
live run with the same seed agree where they overlap, cumulative counters carry
on across runs instead of jumping back (which the hourly rollups would count as
a meter reset worth the whole counter), and any window of a plan is reproducible.

Local time is Europe/Brussels (the EU daylight-saving rule, computed here in
numpy: zoneinfo per sample would dominate a 30-day backfill).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.random import PCG64, Generator, SeedSequence
from numpy.typing import NDArray

from simulators.fleet import Sensor

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday: counters integrate from here
_STREAM_BASE = 1 << 26  # stream indices are offset so that times a little before the epoch still have one
HOUR, DAY = 3600, 86400
LEUVEN_LAT, LEUVEN_LON = 50.879, 4.700


class SignalError(ValueError):
    pass


# --- random streams ------------------------------------------------------------------------


def _words(seed: int, key: str) -> list[int]:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    return [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *struct.unpack("<4I", digest)]


def uniform(seed: int, key: str, index0: int, n: int) -> F64:
    """Uniforms [0, 1) number index0 … index0+n-1 of the stream (seed, key): random access, O(log index)."""
    bg = PCG64(SeedSequence(_words(seed, key)))
    bg.advance(index0 + _STREAM_BASE)
    return Generator(bg).random(n)


def normal(seed: int, key: str, index0: int, n: int) -> F64:
    """Standard normals by Box-Muller from pairs of the uniform stream (random access, like `uniform`)."""
    u = uniform(seed, key, 2 * index0, 2 * n)
    return np.sqrt(-2.0 * np.log1p(-u[0::2])) * np.cos(2.0 * np.pi * u[1::2])


def stable_fraction(key: str) -> float:
    """A fixed number in [0, 1) for a name: phases and start values that do not depend on the seed."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") / 2**64


def ar1(seed: int, key: str, index0: int, n: int, tau: float, sigma: float) -> F64:
    """A stationary AR(1) (sampled Ornstein-Uhlenbeck) with correlation time `tau` steps and s.d. `sigma`.

    Computed as the filter x[i] = sum_j phi^j e[i-j] over the absolute noise stream,
    truncated where phi^j < e^-8, so it needs no start state and is window-independent.
    """
    phi = math.exp(-1.0 / tau)
    taps = math.ceil(8.0 * tau)
    e = normal(seed, key, index0 - taps + 1, n + taps - 1)
    kernel = phi ** np.arange(taps, dtype=np.float64)
    return np.convolve(e, kernel, mode="valid") * (sigma * math.sqrt(1.0 - phi * phi))


# --- time ------------------------------------------------------------------------------------


def _last_sunday_01utc(year: int, month: int) -> int:
    import calendar

    last = calendar.monthrange(year, month)[1]
    weekday = calendar.weekday(year, month, last)  # Monday 0 … Sunday 6
    day = last - (weekday + 1) % 7
    return calendar.timegm((year, month, day, 1, 0, 0))


_DST_YEARS = range(1990, 2101)
_DST_START = np.array([_last_sunday_01utc(y, 3) for y in _DST_YEARS], dtype=np.int64)
_DST_END = np.array([_last_sunday_01utc(y, 10) for y in _DST_YEARS], dtype=np.int64)


def utc_offset(t: I64 | F64) -> I64:
    """Europe/Brussels UTC offset in seconds (3600 or 7200) at each UTC epoch second."""
    i = np.searchsorted(_DST_START, t, side="right") - 1
    i = np.clip(i, 0, len(_DST_START) - 1)
    summer = (t >= _DST_START[i]) & (t < _DST_END[i])
    return np.where(summer, 7200, 3600).astype(np.int64)


@dataclass(frozen=True, slots=True)
class LocalTime:
    hour: F64  # local clock hour, fractional
    day: I64  # local days since 2024-01-01
    weekday: I64  # Monday 0 … Sunday 6
    doy: F64  # day of the year, fractional (for seasons)


def local_time(t: I64 | F64) -> LocalTime:
    local = np.asarray(t, dtype=np.float64) + utc_offset(t) - EPOCH_S
    day = np.floor(local / DAY).astype(np.int64)
    return LocalTime(
        hour=(local - day * DAY) / HOUR, day=day, weekday=day % 7, doy=np.mod(local / DAY, 365.2425),
    )


def local_midnight(t: I64) -> I64:
    """The UTC second of the local midnight that starts each time's local day."""
    day = local_time(t).day
    guess = EPOCH_S + day * DAY - utc_offset(t)
    return EPOCH_S + day * DAY - utc_offset(guess)


def _interp_daily(table: F64, hour: F64) -> F64:
    """A 24-knot daily curve (value at each whole local hour), linear in between, cyclic."""
    h0 = np.floor(hour).astype(np.int64) % 24
    frac = hour - np.floor(hour)
    return table[h0] * (1.0 - frac) + table[(h0 + 1) % 24] * frac


def _weekly(weekday_table: F64, weekend_table: F64, lt: LocalTime) -> F64:
    return np.where(lt.weekday >= 5, _interp_daily(weekend_table, lt.hour), _interp_daily(weekday_table, lt.hour))


def solar_elevation(t: I64 | F64) -> F64:
    """Sun elevation in degrees over Leuven (declination/hour-angle approximation, ±1°)."""
    tf = np.asarray(t, dtype=np.float64)
    doy = np.mod((tf - EPOCH_S) / DAY, 365.2425)
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    solar_hour = np.mod(tf / HOUR + LEUVEN_LON / 15.0, 24.0)
    angle = np.radians(15.0 * (solar_hour - 12.0))
    lat = math.radians(LEUVEN_LAT)
    s = math.sin(lat) * np.sin(decl) + math.cos(lat) * np.cos(decl) * np.cos(angle)
    result: F64 = np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))
    return result


def hour_index(t: I64 | F64) -> I64:
    return np.floor((np.asarray(t, dtype=np.float64) - EPOCH_S) / HOUR).astype(np.int64)


def _check_time(t: I64) -> None:
    if len(t) and int(t.min()) < EPOCH_S:
        raise SignalError("simulated times before 2024-01-01T00:00:00Z are not supported")


# --- city weather (shared by every sensor) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Weather:
    """Hourly knots h0 … h1 (hours since the epoch) of Leuven's weather."""

    h0: int
    temperature: F64  # degC
    humidity: F64  # % RH
    pressure: F64  # hPa at sea level
    rain: NDArray[np.bool_]  # raining during the hour that starts at the knot
    cloud: F64  # 0 clear … 1 overcast
    pm25_background: F64  # ug/m3, regional background

    def at(self, t: I64 | F64, field: str) -> F64:
        """Linear interpolation of a field at times t (within the knots)."""
        x = (np.asarray(t, dtype=np.float64) - EPOCH_S) / HOUR - self.h0
        i = np.clip(np.floor(x).astype(np.int64), 0, len(self.temperature) - 2)
        frac = x - i
        arr = np.asarray(getattr(self, field), dtype=np.float64)
        result: F64 = arr[i] * (1.0 - frac) + arr[i + 1] * frac
        return result

    def raining(self, t: I64 | F64) -> NDArray[np.bool_]:
        x = hour_index(t) - self.h0
        return self.rain[np.clip(x, 0, len(self.rain) - 1)]


@lru_cache(maxsize=32)
def weather(seed: int, h0: int, h1: int) -> Weather:
    """Leuven's weather at hourly knots h0 … h1 inclusive: seasonal and diurnal cycles, AR(1) anomalies,
    and a rain state that persists for hours (a thresholded slow latent process)."""
    n = h1 - h0 + 1
    t = EPOCH_S + (h0 + np.arange(n, dtype=np.int64)) * HOUR
    lt = local_time(t)
    season = np.cos(2 * np.pi * (lt.doy - 200.0) / 365.2425)  # +1 mid-July, -1 mid-January
    t_anom = ar1(seed, "weather/temperature", h0, n, tau=60.0, sigma=3.0)
    rain_latent = ar1(seed, "weather/rain", h0, n, tau=7.0, sigma=1.0) + 0.35 * ar1(
        seed, "weather/rain-front", h0, n, tau=48.0, sigma=1.0
    )
    rain = rain_latent > 1.45  # ~9 % of hours, in spells of hours
    cloud = 1.0 / (1.0 + np.exp(-1.8 * (rain_latent + 0.2)))
    diurnal_amp = (3.0 + 2.0 * (season + 1.0) / 2.0) * (1.0 - 0.6 * cloud)
    temperature = (
        10.8 + 7.6 * season + diurnal_amp * np.cos(2 * np.pi * (lt.hour - 15.0) / 24.0) + t_anom
        - 1.5 * rain.astype(np.float64)
    )
    humidity = (
        78.0 - 6.0 * season + 11.0 * np.cos(2 * np.pi * (lt.hour - 5.0) / 24.0) - 1.2 * t_anom
        + 14.0 * rain + ar1(seed, "weather/humidity", h0, n, tau=12.0, sigma=4.0)
    )
    pressure = 1015.0 + ar1(seed, "weather/pressure", h0, n, tau=40.0, sigma=8.5) - 5.0 * np.clip(
        rain_latent, 0.0, None
    )
    bg = np.exp(
        math.log(8.5) + 0.45 * ar1(seed, "weather/pm", h0, n, tau=36.0, sigma=1.0)
    ) * (1.0 - 0.3 * season) * np.where(rain, 0.7, 1.0)
    return Weather(
        h0=h0,
        temperature=temperature,
        humidity=np.clip(humidity, 22.0, 100.0),
        pressure=np.clip(pressure, 975.0, 1045.0),
        rain=rain,
        cloud=cloud,
        pm25_background=bg,
    )


_WEATHER_BLOCK_H = 8 * 24


def weather_for(seed: int, t: I64) -> Weather:
    """The weather knots covering times t, in whole 8-day blocks so that windows and sensors share them."""
    h0 = (int(hour_index(t.min())) - 1) // _WEATHER_BLOCK_H * _WEATHER_BLOCK_H
    h1 = (int(hour_index(t.max())) + 2) // _WEATHER_BLOCK_H * _WEATHER_BLOCK_H + _WEATHER_BLOCK_H
    return weather(seed, h0, h1)


_HORIZON_H = 45 * 24  # counters are integrated from the epoch up to a multiple of this (cache sharing)


def _horizon(t: I64) -> int:
    return (int(hour_index(t.max())) // _HORIZON_H + 1) * _HORIZON_H


# --- daily curves (value at each whole local hour) ---------------------------------------------------

_A = np.array  # brevity in the tables below

_HOUSEHOLD = (
    _A([.10, .07, .06, .06, .06, .08, .22, .50, .45, .25, .18, .18, .22, .20, .17, .18, .25, .45, .85, 1.0,
        .90, .70, .45, .22]),
    _A([.12, .08, .07, .06, .06, .07, .10, .20, .38, .52, .55, .55, .60, .50, .42, .40, .45, .60, .90, 1.0,
        .85, .65, .45, .25]),
)
_OFFICE = (
    _A([.08, .08, .08, .08, .08, .10, .20, .55, .90, 1.0, 1.0, .95, .85, .95, 1.0, .95, .85, .60, .30, .15,
        .10, .08, .08, .08]),
    _A([.07] * 24),
)
_SCHOOL = (
    _A([.05, .05, .05, .05, .05, .06, .15, .55, 1.0, 1.0, .95, .80, .70, .90, .95, .70, .35, .15, .10, .08,
        .06, .05, .05, .05]),
    _A([.04] * 24),
)
_PROFILES: Mapping[str, tuple[F64, F64]] = {"household": _HOUSEHOLD, "office": _OFFICE, "school": _SCHOOL}

_TRAFFIC = (  # road traffic intensity, for air pollution: rush hours near 8:00 and 17:30
    _A([.10, .06, .05, .05, .08, .20, .55, .95, 1.0, .70, .55, .55, .60, .58, .60, .75, .90, 1.0, .85, .55,
        .40, .32, .25, .16]),
    _A([.16, .12, .08, .06, .06, .08, .14, .22, .32, .45, .55, .60, .62, .60, .58, .58, .58, .56, .50, .42,
        .36, .30, .26, .20]),
)
_BIKES = (  # Leuven bike counts: sharp commute peaks at 8:00 and 17:00, lunch bump, students late
    _A([.04, .02, .01, .01, .01, .03, .12, .55, 1.0, .55, .32, .33, .42, .40, .35, .45, .70, .92, .60, .40,
        .30, .24, .16, .08]),
    _A([.06, .04, .02, .01, .01, .01, .03, .06, .12, .20, .30, .36, .40, .42, .42, .40, .38, .34, .28, .22,
        .18, .14, .10, .07]),
)
_CARS = (
    _A([.05, .03, .02, .02, .04, .12, .45, .90, 1.0, .72, .58, .60, .64, .62, .64, .75, .92, 1.0, .78, .52,
        .38, .30, .20, .10]),
    _A([.08, .05, .03, .02, .02, .04, .08, .16, .28, .42, .52, .58, .60, .58, .56, .56, .56, .54, .48, .40,
        .32, .26, .20, .12]),
)
_PEDESTRIANS = (
    _A([.03, .02, .01, .01, .01, .02, .06, .25, .45, .40, .45, .60, .85, .80, .65, .65, .75, .80, .60, .45,
        .35, .25, .14, .06]),
    _A([.05, .03, .02, .01, .01, .01, .02, .06, .15, .35, .60, .80, 1.0, .95, .90, .85, .80, .70, .55, .40,
        .30, .22, .14, .08]),
)
_HEAVY = (
    _A([.05, .04, .04, .05, .10, .30, .70, .95, 1.0, .95, .90, .85, .80, .85, .85, .80, .70, .55, .35, .20,
        .12, .08, .06, .05]),
    _A([.05, .04, .04, .04, .05, .08, .12, .18, .24, .28, .30, .30, .28, .26, .24, .22, .20, .16, .12, .10,
        .08, .06, .05, .05]),
)
_OCCUPANCY = _SCHOOL  # indoor CO2 follows people in the room


def bike_curve(hour: float, weekend: bool) -> float:
    """The relative bike intensity at a local hour (for tests and docs)."""
    return float(_interp_daily(_BIKES[1 if weekend else 0], np.array([hour]))[0])


# --- per-sensor helpers ------------------------------------------------------------------------------


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


# --- energy -----------------------------------------------------------------------------------------


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


# --- air ---------------------------------------------------------------------------------------------


def air(seed: int, sensor: Sensor, t: I64) -> Samples:
    _check_time(t)
    if not len(t):
        return Samples(sensor, t, {})
    wx = weather_for(seed, t)
    idx0 = int(sample_index(sensor, t[:1])[0])
    n = len(t)
    lt = local_time(t)
    traffic = float(sensor.meta("traffic", 1.0))
    rush = _weekly(_TRAFFIC[0], _TRAFFIC[1], lt)
    season = np.cos(2 * np.pi * (lt.doy - 200.0) / 365.2425)

    def z(stream: str) -> F64:
        return normal(seed, _key(sensor, f"air/{stream}"), idx0, n)

    def slow(stream: str, sigma: float) -> F64:  # local drift over ~2 h of samples
        return ar1(seed, _key(sensor, f"air/{stream}"), idx0, n, tau=max(2.0, 7200.0 / sensor.interval_s),
                   sigma=sigma)

    temperature_out = wx.at(t, "temperature")
    humidity_out = wx.at(t, "humidity")
    bg = wx.at(t, "pm25_background")
    pm25 = bg * (1.0 + 0.55 * traffic * rush) * np.exp(slow("pm-local", 0.15) + 0.08 * z("pm-noise"))
    coarse = np.clip(1.45 + 0.3 * traffic * rush + 0.12 * z("pm-coarse"), 1.08, None)
    pm10 = pm25 * coarse
    # Optical PM sensors (SDS011) over-read in near-saturated air: water grows the particles.
    wet = 1.0 + 1.5 * np.clip((humidity_out - 85.0) / 15.0, 0.0, 1.0) ** 2
    no2 = (7.0 + 34.0 * traffic * rush) * (1.0 - 0.22 * season) * np.exp(slow("no2", 0.2) + 0.06 * z("no2-noise"))
    sun = np.clip(np.sin(np.radians(np.clip(solar_elevation(t), 0.0, 90.0))), 0.0, 1.0)
    o3 = np.clip(38.0 + 20.0 * season + 45.0 * sun * (1.0 - wx.at(t, "cloud")) - 0.55 * no2 + 4.0 * z("o3"),
                 2.0, None)
    pressure = wx.at(t, "pressure") - float(sensor.meta("altitude_m", 30.0)) / 8.3 + 0.15 * z("pressure")
    values: dict[str, F64]
    if sensor.meta("indoor", sensor.model == "AM319"):
        occupancy = _weekly(_OCCUPANCY[0], _OCCUPANCY[1], lt) * _per_day(seed, sensor, "air/occupancy", lt.day, 0.2)
        co2_peak = float(sensor.meta("co2_peak_ppm", 1400.0))
        co2 = 430.0 + (co2_peak - 430.0) * np.clip(occupancy, 0.0, 1.3) * np.exp(slow("co2", 0.12)) + 8.0 * z("co2")
        values = {
            "temperature": 19.0 + 2.5 * np.clip(occupancy, 0, 1) + 0.08 * (temperature_out - 10.0)
            + slow("temperature", 0.3),
            "humidity": np.clip(46.0 + 0.3 * (humidity_out - 75.0) + 6.0 * occupancy + slow("humidity", 2.0),
                                15.0, 90.0),
            "co2": np.clip(co2, 400.0, 5000.0),
            "pressure": pressure,
            "pm25": pm25 * 0.45,
            "pm10": pm10 * 0.40,
            "tvoc": np.clip(60.0 + 180.0 * occupancy + 20.0 * z("tvoc"), 0.0, None),
            "hcho": np.clip(0.02 + 0.03 * occupancy + 0.005 * z("hcho"), 0.0, None),
        }
    else:
        values = {
            "temperature": temperature_out + 0.4 * traffic + 0.25 * z("temperature"),
            "humidity": np.clip(humidity_out + 1.5 * z("humidity"), 5.0, 100.0),
            "pressure": pressure,
            "pm25": pm25 * wet,
            "pm10": pm10 * wet,
            "no2": np.clip(no2, 1.0, None),
            "o3": o3,
        }
    values["battery"] = _battery(sensor, t, float(sensor.meta("battery_drain_per_day", 0.04)))
    return Samples(sensor, t, values)


def _battery(sensor: Sensor, t: I64, drain_per_day: float) -> F64:
    """Percent, draining slowly; replaced at 10 % by a fresh one (cycling, so any date has a level)."""
    start = float(sensor.meta("battery_start", 80.0 + 20.0 * stable_fraction(sensor.id + "/battery")))
    used = drain_per_day * (t.astype(np.float64) - EPOCH_S) / DAY
    return 10.0 + np.mod(start - 10.0 - used, 90.0)


# --- mobility (Telraam) -------------------------------------------------------------------------


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


# --- bins -----------------------------------------------------------------------------------------------

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


def simulate(seed: int, sensor: Sensor, t: I64) -> Samples:
    """The sensor's values at times t, by kind."""
    match sensor.kind:
        case "energy":
            return energy(seed, sensor, t)
        case "air":
            return air(seed, sensor, t)
        case "mobility":
            return mobility(seed, sensor, t)
        case "bin":
            return bins(seed, sensor, t)
    raise SignalError(f"{sensor.id}: no signal model for kind {sensor.kind!r}")
