"""Local time in Europe/Brussels (the EU daylight-saving rule in numpy), daily and weekly curves, the
sun. Pure (numpy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.signals.base import DAY, EPOCH_S, F64, HOUR, I64, LEUVEN_LAT, LEUVEN_LON, SignalError


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
