"""The policy maths, against hand-computed answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.analysis import air, bins, energy, mobility
from api.analysis.periods import percent_change, previous_period

T0 = datetime(2026, 11, 20, 6, tzinfo=UTC)


def hours(*hs: float) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in hs]


# periods --------------------------------------------------------------------------------------

def test_previous_period() -> None:
    assert previous_period(T0, T0 + timedelta(days=7)) == (T0 - timedelta(days=7), T0)


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(110, 100, 10.0), (50, 100, -50.0), (100, 100, 0.0), (5, 0, None), (0, 0, None), (0, 10, -100.0)],
)
def test_percent_change(current: float, previous: float, expected: float | None) -> None:
    got = percent_change(current, previous)
    assert got == expected if expected is None else math.isclose(got or 0, expected)


# mobility -------------------------------------------------------------------------------------

def test_modal_split() -> None:
    split = mobility.modal_split({"bikes": 600, "cars": 300, "pedestrians": 100})
    assert split == {"bikes": 60.0, "cars": 30.0, "pedestrians": 10.0, "heavy_vehicles": 0.0}
    assert mobility.modal_split({}) == dict.fromkeys(mobility.MODES)
    assert math.isclose(sum(v or 0 for v in mobility.modal_split({"bikes": 1, "cars": 2}).values()), 100)


def test_peak_hour() -> None:
    assert mobility.peak_hour({7: 10, 8: 50, 17: 50, 18: 20}) == (8, 50)  # earliest on a tie
    assert mobility.peak_hour(dict.fromkeys(range(24), 0.0)) is None


# bins -----------------------------------------------------------------------------------------

def test_last_emptying() -> None:
    assert bins.last_emptying([10, 20, 30]) == 0
    assert bins.last_emptying([10, 60, 90, 5, 10, 15]) == 3
    assert bins.last_emptying([80, 5, 40, 95, 2, 4]) == 4
    assert bins.last_emptying([50, 45, 40]) == 0  # settling, not an emptying
    assert bins.last_emptying([]) == 0


def test_forecast_is_the_least_squares_line_since_the_last_emptying() -> None:
    # Before the emptying: noise that must not count. After it: 2 points/h with noise.
    rng = np.random.default_rng(1)
    before = [70.0, 90.0, 95.0]
    after_h = np.arange(0, 12, 0.5)
    after = 10 + 2.0 * after_h + rng.normal(0, 0.5, after_h.size)
    times = hours(-3, -2, -1, *after_h.tolist())
    values = before + after.tolist()
    now = times[-1]
    fc = bins.forecast_fill(times, values, now)
    slope, intercept = np.polyfit(after_h, after, 1)
    assert fc.emptied_at == times[3]
    assert fc.points == after_h.size
    assert fc.rate_per_hour is not None
    assert math.isclose(fc.rate_per_hour, slope)
    expect_left = (100 - intercept) / slope - after_h[-1]
    assert fc.hours_to_full is not None
    assert math.isclose(fc.hours_to_full, expect_left, rel_tol=1e-9)
    assert fc.full_at == now + timedelta(hours=expect_left)


@pytest.mark.parametrize(
    ("values", "rate", "left"),
    [
        ([100.0], None, 0.0),  # full already
        ([40.0, 100.0], None, 0.0),
        ([40.0], None, None),  # one reading: no rate
        ([40.0, 40.0, 40.0], 0.0, None),  # not filling
        ([50.0, 45.0, 41.0], -4.5, None),  # compacting: not filling
    ],
)
def test_forecast_edge_cases(values: list[float], rate: float | None, left: float | None) -> None:
    fc = bins.forecast_fill(hours(*range(len(values))), values, hours(len(values))[0])
    assert fc.hours_to_full == left
    assert (fc.rate_per_hour is None) == (rate is None)
    if rate is not None:
        assert math.isclose(fc.rate_per_hour or 0.0, rate, abs_tol=1e-9)


def test_forecast_never_negative_when_overdue() -> None:
    fc = bins.forecast_fill(hours(0, 1, 2), [10.0, 40.0, 70.0], hours(10)[0])  # the line passed 100 at 3 h
    assert fc.hours_to_full == 0.0


def test_urgency_order() -> None:
    items = [("a", 30.0, 50.0), ("b", 85.0, 3.0), ("c", 95.0, 1.0), ("d", 50.0, 2.0), ("e", 70.0, None)]
    ordered = sorted(items, key=lambda i: bins.urgency_key(i[1], i[2], 80.0))
    assert [i[0] for i in ordered] == ["c", "b", "d", "a", "e"]


# air ------------------------------------------------------------------------------------------

def test_exceedance_days() -> None:
    assert air.exceedance_days([10, 15, 15.01, None, 40], 15) == 2  # strictly above; None never counts
    assert air.exceedance_days([], 15) == 0


def test_standards_are_the_published_values() -> None:
    table = {(s.name, s.metric): s.limit for s in air.STANDARDS}
    assert table == {("who_2021", "pm25"): 15, ("who_2021", "pm10"): 45, ("who_2021", "no2"): 25,
                     ("eu_limit", "pm10"): 50}


def test_valid_day_and_mean() -> None:
    assert air.valid_day(18)
    assert not air.valid_day(17)
    assert air.valid_day(3, min_hours=3)
    assert air.mean_of([1.0, 2.0, 6.0]) == 3.0
    assert air.mean_of([]) is None


# energy ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("values", "before", "expected"),
    [
        ([1.0, 2.0, 3.5], None, 2.5),
        ([1.0, 2.0, 3.5], 0.5, 3.0),
        ([10.0, 12.0, 0.5, 1.5], None, 2.0 + 0.5 + 1.0),  # reset: the new value is what accrued since
        ([10.0, 12.0, 12.0], 13.0, 10.0 + 2.0),  # a reset between `before` and the first reading
        ([], 5.0, 0.0),
    ],
)
def test_counter_increase(values: list[float], before: float | None, expected: float) -> None:
    assert math.isclose(energy.counter_increase(values, before), expected)


def test_base_load_is_the_median_of_nightly_minima() -> None:
    assert energy.base_load([120.0, 0.0, 130.0, 125.0, 118.0]) == 120.0
    assert energy.base_load([]) is None


def test_peak_takes_the_earliest_of_equal_highs() -> None:
    pts = [(T0 + timedelta(hours=2), 5.0), (T0, 7.0), (T0 + timedelta(hours=1), 7.0)]
    assert energy.peak(pts) == (T0, 7.0)
    assert energy.peak([]) is None


def test_hourly_profile_keeps_weekdays_and_weekends_apart() -> None:
    friday = datetime(2026, 11, 20, 8)  # local wall-clock times
    saturday = datetime(2026, 11, 21, 8)
    monday = datetime(2026, 11, 23, 8)
    prof = energy.hourly_profile([(friday, 100.0), (monday, 300.0), (saturday, 50.0),
                                  (saturday.replace(hour=9), 70.0)])
    assert prof["weekday"][8] == 200.0
    assert prof["weekend"][8] == 50.0
    assert prof["weekend"][9] == 70.0
    assert prof["weekday"][9] is None
    assert len(prof["weekday"]) == len(prof["weekend"]) == 24
