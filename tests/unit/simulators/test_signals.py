"""Signals: realistic shapes (diurnal, weekly, weather), counters that only grow but for resets, bins that
fill and are emptied, and determinism that does not depend on the window asked for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from simulators import signals
from simulators.fleet import Sensor, load_fleet

FLEET = load_fleet()
BRUSSELS = ZoneInfo("Europe/Brussels")


def _sensor(sensor_id: str, **metadata: Any) -> Sensor:
    s = FLEET.by_id(sensor_id)
    return replace(s, metadata=MappingProxyType({**s.metadata, **metadata})) if metadata else s


def _epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def _times(sensor: Sensor, start: datetime, days: float) -> np.ndarray[Any, Any]:
    s0 = int(start.timestamp())
    return signals.sample_times(sensor, s0, s0 + int(days * 86400))


# --- random streams and time -------------------------------------------------------------------------


def test_uniform_streams_are_random_access() -> None:
    whole = signals.uniform(7, "k", 100, 50)
    assert np.array_equal(whole[20:], signals.uniform(7, "k", 120, 30))
    assert not np.array_equal(whole, signals.uniform(8, "k", 100, 50))
    assert not np.array_equal(whole, signals.uniform(7, "other", 100, 50))


def test_normals_have_unit_spread() -> None:
    z = signals.normal(1, "n", 0, 20000)
    assert abs(float(z.mean())) < 0.03
    assert abs(float(z.std()) - 1.0) < 0.03


def test_ar1_is_window_independent_and_stationary() -> None:
    a = signals.ar1(3, "x", 1000, 500, tau=24.0, sigma=2.0)
    b = signals.ar1(3, "x", 1200, 300, tau=24.0, sigma=2.0)
    assert np.allclose(a[200:], b)
    long = signals.ar1(3, "x", 0, 50000, tau=24.0, sigma=2.0)
    assert abs(float(long.std()) - 2.0) < 0.25
    lag1 = float(np.corrcoef(long[:-1], long[1:])[0, 1])
    assert lag1 == pytest.approx(np.exp(-1 / 24), abs=0.02)


def test_utc_offset_follows_brussels_daylight_saving() -> None:
    t = np.arange(_epoch(2024, 1, 1), _epoch(2031, 1, 1), 3 * 3600 + 17, dtype=np.int64)
    ours = signals.utc_offset(t)
    theirs = np.array([datetime.fromtimestamp(int(x), BRUSSELS).utcoffset().total_seconds() for x in t])  # type: ignore[union-attr]
    assert np.array_equal(ours, theirs)


def test_local_time_and_midnight() -> None:
    t = np.array([_epoch(2026, 7, 6, 22, 30)], dtype=np.int64)  # Tuesday 00:30 CEST
    lt = signals.local_time(t)
    assert lt.hour[0] == pytest.approx(0.5)
    assert lt.weekday[0] == 1
    assert signals.local_midnight(t)[0] == _epoch(2026, 7, 6, 22, 0)


def test_sample_grid_is_the_same_whatever_the_window() -> None:
    s = FLEET.by_id("tasmota:pow-kessello-17")
    start = _epoch(2026, 11, 1)
    whole = signals.sample_times(s, start, start + 86400)
    part = signals.sample_times(s, start + 3 * 3600 + 5, start + 86400)
    assert np.array_equal(whole[np.searchsorted(whole, part[0]):], part)
    assert np.all(np.diff(whole) == s.interval_s)


# --- energy -------------------------------------------------------------------------------------------


def test_household_load_peaks_in_the_evening_and_is_low_at_night() -> None:
    s = FLEET.by_id("tasmota:pow-heverlee-03")
    t = _times(s, datetime(2026, 10, 5, tzinfo=UTC), 28)
    v = signals.energy(1, s, t).values
    hour = signals.local_time(t).hour
    evening = v["power"][(hour >= 18.5) & (hour < 20.5)].mean()
    night = v["power"][(hour >= 2) & (hour < 5)].mean()
    assert evening > 4 * night
    assert 100 < night < 400


def test_office_load_is_low_at_weekends() -> None:
    s = FLEET.by_id("shelly:shelly1pm-F45D01")
    t = _times(s, datetime(2026, 10, 5, tzinfo=UTC), 28)
    v = signals.energy(1, s, t).values
    lt = signals.local_time(t)
    office_hours = (lt.hour >= 9) & (lt.hour < 17)
    weekday = v["power"][office_hours & (lt.weekday < 5)].mean()
    weekend = v["power"][office_hours & (lt.weekday >= 5)].mean()
    assert weekday > 3 * weekend


@pytest.mark.parametrize("sensor_id", ["tasmota:pow-kessello-17", "dsmr:1SAG1100042101", "shelly:shellyplug-s-7A9D3F"])
def test_counters_are_monotone_except_at_resets(sensor_id: str) -> None:
    s = _sensor(sensor_id, resets_per_year=40.0)  # force a few resets in the period
    t = _times(s, datetime(2026, 1, 1, tzinfo=UTC), 60)
    v = signals.energy(1, s, t).values
    counters = signals._counters(1, s, signals._horizon(t))
    in_period = counters.resets[(counters.resets > t[0]) & (counters.resets <= t[-1])]
    assert len(in_period) >= 2
    for name in ("energy_import", "import_t1", "import_t2"):
        steps = np.diff(v[name])
        drops = np.nonzero(steps < 0)[0]
        # A drop only in the sample interval that holds a reset, and down to what accrued since it.
        for i in drops:
            assert np.any((counters.resets > t[i]) & (counters.resets <= t[i + 1])), name
            assert v[name][i + 1] < 5.0
        assert len(drops) <= len(in_period)


def test_a_first_reset_after_the_window_leaves_the_counter_untouched() -> None:
    # The reset table covers whole days, so a sensor's first reset can fall after the last
    # sample, past the counter table: it used to be looked up anyway (IndexError).
    s = _sensor("tasmota:pow-kessello-17", resets_per_year=1.0)
    t = _times(s, datetime(2026, 3, 1, tzinfo=UTC), 0.25)
    found = 0
    for seed in range(1, 400):
        counters = signals._counters(seed, s, signals._horizon(t))
        if not len(counters.resets) or counters.resets[0] <= t[-1]:
            continue
        found += 1
        v = signals.energy(seed, s, t).values
        np.testing.assert_allclose(v["energy_import"], signals._register(counters, "import", t) + counters.start_kwh)
    assert found >= 3


def test_counters_without_resets_never_drop_and_grow_by_the_energy_used() -> None:
    s = _sensor("dsmr:1SAG1100058813")
    t = _times(s, datetime(2026, 2, 1, tzinfo=UTC), 30)
    v = signals.energy(1, s, t).values
    assert np.all(np.diff(v["energy_import"]) >= 0)
    assert np.all(np.diff(v["gas_volume"]) >= 0)
    # The counter grows by about the mean power times the time (instantaneous samples are noisy).
    used_kwh = v["energy_import"][-1] - v["energy_import"][0]
    mean_kw = float(np.clip(v["power"], 0, None).mean()) / 1000.0
    assert used_kwh == pytest.approx(mean_kw * 30 * 24, rel=0.15)
    assert np.allclose(v["import_t1"] + v["import_t2"], v["energy_import"])  # tariffs sum to the total
    # Winter heating: several m3 of gas a day.
    assert 3 < (v["gas_volume"][-1] - v["gas_volume"][0]) / 30 < 30


def test_solar_meter_exports_at_summer_noon() -> None:
    s = FLEET.by_id("dsmr:1SAG3100721326")  # 6 kWp
    t = _times(s, datetime(2026, 6, 1, tzinfo=UTC), 14)
    v = signals.energy(1, s, t).values
    hour = signals.local_time(t).hour
    assert np.mean(v["power"][(hour > 12) & (hour < 15)]) < 0  # net export
    assert v["energy_export"][-1] > v["energy_export"][0] + 50


def test_counters_continue_across_windows() -> None:
    """A backfill and a later live run agree: the counter is a function of absolute time."""
    s = FLEET.by_id("tasmota:pow-kessello-17")
    t = _times(s, datetime(2026, 11, 1, tzinfo=UTC), 3)
    whole = signals.energy(1, s, t).values["energy_import"]
    tail = signals.energy(1, s, t[200:]).values["energy_import"]
    assert np.allclose(whole[200:], tail)


# --- air ------------------------------------------------------------------------------------------------


def test_air_is_plausible_for_leuven_and_pm10_exceeds_pm25() -> None:
    for sid in ("sensor.community:esp8266-14220381", "senml:urn:dev:mac:0024befffe80a001"):
        s = FLEET.by_id(sid)
        t = _times(s, datetime(2026, 1, 1, tzinfo=UTC), 365)
        v = signals.air(1, s, t).values
        assert v["temperature"].min() > -15
        assert v["temperature"].max() < 38
        assert 8 < v["temperature"].mean() < 14
        assert v["humidity"].min() >= 20
        assert v["humidity"].max() <= 100
        assert v["pressure"].min() > 960
        assert v["pressure"].max() < 1050
        assert np.all(v["pm10"] >= v["pm25"])
        assert 4 < np.median(v["pm25"]) < 25


def test_no2_has_morning_and_evening_rush_hour_peaks() -> None:
    s = FLEET.by_id("senml:urn:dev:mac:0024befffe80a001")
    t = _times(s, datetime(2026, 3, 2, tzinfo=UTC), 56)
    v = signals.air(1, s, t).values
    lt = signals.local_time(t)
    weekday = lt.weekday < 5

    def at(h0: float, h1: float) -> float:
        return float(v["no2"][weekday & (lt.hour >= h0) & (lt.hour < h1)].mean())

    assert at(7.5, 9) > 1.8 * at(2, 4)
    assert at(16.5, 18.5) > 1.8 * at(2, 4)
    assert at(7.5, 9) > at(11, 13)


def test_summer_is_warmer_than_winter_and_afternoons_than_nights() -> None:
    s = FLEET.by_id("tasmota:air-vaartkom")
    jan = signals.air(1, s, _times(s, datetime(2026, 1, 5, tzinfo=UTC), 20)).values["temperature"]
    jul = signals.air(1, s, _times(s, datetime(2026, 7, 5, tzinfo=UTC), 20)).values["temperature"]
    assert jul.mean() > jan.mean() + 8


def test_indoor_co2_follows_occupancy() -> None:
    s = FLEET.by_id("ttn:eui-24e124710c401234")
    t = _times(s, datetime(2026, 11, 2, tzinfo=UTC), 14)
    v = signals.air(1, s, t).values
    lt = signals.local_time(t)
    lessons = v["co2"][(lt.weekday < 5) & (lt.hour >= 9) & (lt.hour < 11)].mean()
    night = v["co2"][(lt.hour >= 1) & (lt.hour < 5)].mean()
    assert lessons > night + 500
    assert night < 520


# --- mobility -----------------------------------------------------------------------------------------------


def test_bike_curve_has_commute_peaks() -> None:
    assert signals.bike_curve(8, weekend=False) > 10 * signals.bike_curve(3, weekend=False)
    assert signals.bike_curve(17, weekend=False) > 10 * signals.bike_curve(3, weekend=False)
    assert signals.bike_curve(8, weekend=True) < 0.3 * signals.bike_curve(8, weekend=False)


def test_bike_counts_peak_at_8_and_17_on_weekdays_and_less_at_weekends() -> None:
    s = FLEET.by_id("telraam:352870")  # an S2: counts around the clock
    t = _times(s, datetime(2026, 9, 7, tzinfo=UTC), 56)
    v = signals.mobility(1, s, t).values
    lt = signals.local_time(t)
    weekday, weekend = lt.weekday < 5, lt.weekday >= 5

    def mean(mask: np.ndarray[Any, Any], hour: int) -> float:
        return float(v["bikes"][mask & (np.floor(lt.hour) == hour)].mean())

    assert mean(weekday, 8) > 5 * mean(weekday, 3)
    assert mean(weekday, 17) > 5 * mean(weekday, 3)
    assert mean(weekend, 8) < 0.5 * mean(weekday, 8)
    assert mean(weekday, 8) > mean(weekday, 11)


def test_counts_are_poisson_extrapolated_by_uptime() -> None:
    s = FLEET.by_id("telraam:351204")
    t = _times(s, datetime(2026, 9, 7, tzinfo=UTC), 14)
    v = signals.mobility(1, s, t).values
    observed = v["bikes"] * v["uptime"]
    assert np.allclose(observed, np.round(observed))  # whole vehicles seen, divided by the uptime
    assert np.all(v["speed_v85"] > 20)
    assert np.all(v["speed_v85"] < 80)


def test_rain_keeps_cyclists_home() -> None:
    s = FLEET.by_id("telraam:352870")
    t = _times(s, datetime(2026, 1, 5, tzinfo=UTC), 180)
    v = signals.mobility(1, s, t).values
    wx = signals.weather_for(1, t)
    rain = wx.raining(t)
    lt = signals.local_time(t)
    rush = (lt.weekday < 5) & ((np.floor(lt.hour) == 8) | (np.floor(lt.hour) == 17))
    assert rain[rush].sum() >= 5
    assert v["bikes"][rush & rain].mean() < 0.75 * v["bikes"][rush & ~rain].mean()


def test_rain_persists_for_hours() -> None:
    wx = signals.weather(1, 10000, 10000 + 24 * 365)
    rain = wx.rain.astype(int)
    starts = np.count_nonzero(np.diff(rain) == 1)
    assert 0.04 < rain.mean() < 0.2
    assert rain.sum() / max(starts, 1) >= 2.5  # spells last hours, not single hours


def test_poisson_draws_have_the_right_mean_and_spread() -> None:
    for lam in (0.3, 4.0, 45.0, 300.0):
        n = 20000
        k = signals.poisson(np.full(n, lam), signals.uniform(2, f"p{lam}", 0, n), signals.normal(2, f"p{lam}", 0, n))
        assert k.mean() == pytest.approx(lam, rel=0.05, abs=0.02)
        assert k.var() == pytest.approx(lam, rel=0.1, abs=0.05)
        assert np.all(k == np.round(k))
        assert np.all(k >= 0)


# --- bins ----------------------------------------------------------------------------------------------------


def test_bins_fill_between_collections_and_reset_on_collection() -> None:
    s = FLEET.by_id("ttn:eui-24e124136c225104")
    start = datetime(2026, 10, 5, tzinfo=UTC)
    t = _times(s, start, 28)
    v = signals.bins(1, s, t).values
    emptied = signals.collections(1, s, int(t[0]), int(t[-1]))
    assert len(emptied) >= 6  # mondays and thursdays, now and then one missed
    fill = v["fill_true"]
    for c in emptied:
        i = int(np.searchsorted(t, c))
        if 0 < i < len(t):
            assert fill[i] < fill[i - 1]
            assert fill[i] < 10
    # Between collections the level only rises (litter comes in, nothing goes out).
    between = np.ones(len(t) - 1, dtype=bool)
    for c in emptied:
        i = int(np.searchsorted(t, c))
        if 0 < i < len(t):
            between[i - 1] = False
    assert np.all(np.diff(fill)[between] >= 0)


def test_bins_overflow_with_fill_capped_and_distance_floored() -> None:
    s = FLEET.by_id("ttn:eui-24e124136c225102")  # Oude Markt at weekends
    t = _times(s, datetime(2026, 9, 1, tzinfo=UTC), 60)
    v = signals.bins(1, s, t).values
    depth = float(s.metadata["depth_mm"])
    over = v["fill_true"] > 100
    assert over.any()
    assert np.all(v["distance"][over] == signals.BIN_BLIND_MM)
    fill_from_distance = np.clip((depth - v["distance"]) / depth * 100, 0, 100)
    assert np.all(fill_from_distance <= 100)
    assert np.all(fill_from_distance[over] > 95)
    assert np.all(v["distance"] >= signals.BIN_BLIND_MM)
    assert np.all(v["distance"] <= depth + 60)


def test_bin_battery_drains_slowly() -> None:
    s = FLEET.by_id("chirpstack:24e124136c225201")
    t = _times(s, datetime(2026, 3, 1, tzinfo=UTC), 60)
    battery = signals.bins(1, s, t).values["battery"]
    assert battery.min() >= 10
    assert battery.max() <= 100
    drops = -np.diff(battery)
    assert np.all((drops >= 0) | (drops < -50))  # down, or a fresh battery
    assert 0 < battery[0] - battery[-1] < 6 or battery[-1] > battery[0] + 50


def test_window_independence_for_every_kind() -> None:
    for s in (FLEET.by_id(i) for i in ("zigbee2mqtt:plug-wijgmaal-fridge", "tasmota:air-arenberg",
                                         "telraam:347655", "chirpstack:24e124136c225203")):
        t = _times(s, datetime(2026, 11, 10, tzinfo=UTC), 2)
        a = signals.simulate(9, s, t).values
        b = signals.simulate(9, s, t[len(t) // 3 :]).values
        for name in a:
            assert np.allclose(a[name][len(t) // 3 :], b[name]), (s.id, name)


def test_times_before_the_epoch_are_refused() -> None:
    s = FLEET.by_id("tasmota:air-arenberg")
    with pytest.raises(signals.SignalError, match="before 2024-01-01"):
        signals.air(1, s, np.array([_epoch(2023, 12, 31)], dtype=np.int64))


def test_unknown_profile_is_refused() -> None:
    s = _sensor("tasmota:pow-heverlee-03", profile="factory")
    with pytest.raises(signals.SignalError, match="unknown energy profile 'factory'"):
        signals.energy(1, s, _times(s, datetime(2026, 1, 1, tzinfo=UTC), 1))


def test_solar_elevation_is_high_at_summer_noon_and_negative_at_night() -> None:
    noon = signals.solar_elevation(np.array([_epoch(2026, 6, 21, 11, 40)]))[0]
    night = signals.solar_elevation(np.array([_epoch(2026, 6, 21, 23, 40)]))[0]
    assert 60 < noon < 64
    assert night < -10
