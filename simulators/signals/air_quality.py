"""Air: particulate matter, NO2, O3, CO2, temperature, humidity, pressure; sensor batteries. Pure (numpy)."""

from __future__ import annotations

import numpy as np

from simulators.fleet import Sensor
from simulators.signals.base import DAY, EPOCH_S, F64, I64
from simulators.signals.city_weather import weather_for
from simulators.signals.clock import _check_time, _weekly, local_time, solar_elevation
from simulators.signals.curves import _OCCUPANCY, _TRAFFIC
from simulators.signals.sampling import Samples, _key, _per_day, sample_index
from simulators.signals.streams import ar1, normal, stable_fraction


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
