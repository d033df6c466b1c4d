"""The city's weather, shared by every sensor: hourly knots, cached in blocks. Pure (numpy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from simulators.signals.base import EPOCH_S, F64, HOUR, I64
from simulators.signals.clock import hour_index, local_time
from simulators.signals.streams import ar1


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
