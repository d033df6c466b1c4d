from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from api.analysis.health import (
    SEVERITY,
    STUCK_RULES,
    ClockFacts,
    Problem,
    ProblemKind,
    RejectFacts,
    SensorFacts,
    SeriesFacts,
    Thresholds,
    assess,
    expected_interval_s,
    median_gap_s,
    worst,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = Thresholds()


def series(metric: str, value: float = 1.0, *, ago_s: float = 10.0, run: int = 1, gap: float | None = 10.0
           ) -> SeriesFacts:
    last = NOW - timedelta(seconds=ago_s)
    return SeriesFacts(metric, last, value, run, last - timedelta(seconds=(run - 1) * (gap or 0)), gap)


def sensor(*s: SeriesFacts, rejects: tuple[RejectFacts, ...] = (), clock: ClockFacts | None = None,
           last_seen: datetime | None = None) -> SensorFacts:
    seen = last_seen if last_seen is not None else max((x.last_time for x in s), default=None)
    return SensorFacts("t:1", seen, NOW - timedelta(days=30), s, rejects, clock)


def kinds(facts: SensorFacts) -> list[str]:
    return [p.kind.value for p in assess(facts, NOW).problems]


def test_a_healthy_sensor_is_ok_with_its_learned_interval() -> None:
    h = assess(sensor(series("power", 12.3), series("voltage", 230.1)), NOW)
    assert (h.status, h.problems, h.expected_interval_s) == ("ok", (), 10.0)


def test_median_gap_ignores_a_dropout_and_a_duplicate() -> None:
    times = [NOW + timedelta(seconds=s) for s in (0, 10, 20, 30, 30, 1000, 1010, 1020)]
    assert median_gap_s(times) == 10.0
    assert median_gap_s([NOW]) is None


def test_the_expected_interval_is_the_fastest_series() -> None:
    assert expected_interval_s([series("power", gap=10.0), series("gas_volume", gap=3600.0)]) == 10.0
    assert expected_interval_s([series("power", gap=None)]) is None


@pytest.mark.parametrize(
    ("interval", "quiet", "expected"),
    [
        (10.0, 29.0, []),  # under 3 intervals
        (10.0, 31.0, ["late"]),
        (10.0, 201.0, ["silent"]),  # 20 intervals
        (3600.0, 3 * 3600.0 + 1, ["late"]),  # an hourly bin sensor three hours quiet
        (3600.0, 21 * 3600.0, ["silent"]),  # 20 intervals: 20 h
        (7200.0, 23 * 3600.0, ["late"]),  # 20 intervals would be 40 h, but...
        (7200.0, 24 * 3600.0 + 1, ["silent"]),  # ...24 h is silent whatever the interval
    ],
)
def test_late_and_silent_scale_with_the_learned_interval(interval: float, quiet: float, expected: list[str]) -> None:
    assert kinds(sensor(series("fill_level", 40, ago_s=quiet, gap=interval))) == expected


def test_a_sensor_that_never_reported_is_silent_since_registration() -> None:
    h = assess(SensorFacts("t:new", None, NOW - timedelta(hours=2)), NOW)
    assert h.status == "silent"
    assert h.problems[0].since == NOW - timedelta(hours=2)


def test_without_a_learned_interval_only_the_24_hour_rule_applies() -> None:
    assert kinds(sensor(series("pm25", 3, ago_s=23 * 3600, gap=None))) == []
    assert kinds(sensor(series("pm25", 3, ago_s=25 * 3600, gap=None))) == ["silent"]


@pytest.mark.parametrize("metric", sorted(STUCK_RULES))
def test_stuck_is_per_metric_repeats(metric: str) -> None:
    rule = STUCK_RULES[metric]
    assert kinds(sensor(series(metric, 99.9, run=rule.repeats - 1))) == []
    h = assess(sensor(series(metric, 99.9, run=rule.repeats)), NOW)
    assert h.status == "stuck"
    assert h.problems[0].metric == metric
    assert h.problems[0].since == NOW - timedelta(seconds=10 + (rule.repeats - 1) * 10)


def test_zero_is_a_resting_value_for_counts_and_power_not_for_humidity() -> None:
    assert kinds(sensor(series("bikes", 0, run=100))) == []
    assert kinds(sensor(series("power", 0, run=100))) == []
    assert kinds(sensor(series("humidity", 0, run=100))) == ["stuck"]


@pytest.mark.parametrize("metric", ["pm1", "pm25", "pm10", "no2", "o3"])
def test_clean_air_at_a_coarse_resolution_is_not_stuck(metric: str) -> None:
    assert kinds(sensor(series(metric, 2.0, run=100))) == []
    assert kinds(sensor(series(metric, 5.0, run=100))) == []
    assert kinds(sensor(series(metric, 6.0, run=12))) == ["stuck"]


def test_no_floor_for_what_never_reads_near_zero_in_clean_air() -> None:
    assert kinds(sensor(series("humidity", 2.0, run=12))) == ["stuck"]
    assert kinds(sensor(series("co2", 2.0, run=12))) == ["stuck"]


def test_metrics_that_legitimately_hold_a_value_are_never_stuck() -> None:
    for metric in ("fill_level", "battery", "tilted", "energy_import", "uptime", "distance"):
        assert kinds(sensor(series(metric, 50 if metric != "uptime" else 1, run=10_000))) == []


def test_low_battery_at_or_below_the_threshold() -> None:
    assert kinds(sensor(series("battery", 15.0))) == ["low_battery"]
    assert kinds(sensor(series("battery", 15.1))) == []
    assert kinds(SensorFacts("t:1", NOW, NOW, (series("battery", 30.0),))) == []
    assert assess(sensor(series("battery", 30)), NOW, Thresholds(low_battery_pct=40)).status == "low_battery"


def test_low_uptime_but_not_dark_hours() -> None:
    assert kinds(sensor(series("uptime", 0.3, gap=3600))) == ["low_uptime"]
    assert kinds(sensor(series("uptime", 0.0, gap=3600))) == []
    assert kinds(sensor(series("uptime", 0.5, gap=3600))) == []


def test_clock_skew_either_way_beyond_five_minutes() -> None:
    assert kinds(sensor(series("power"), clock=ClockFacts(301.0, NOW))) == ["clock_skew"]
    assert kinds(sensor(series("power"), clock=ClockFacts(-301.0, NOW))) == ["clock_skew"]
    assert kinds(sensor(series("power"), clock=ClockFacts(299.0, NOW))) == []
    assert "behind" in assess(sensor(series("power"), clock=ClockFacts(900.0, NOW)), NOW).problems[0].detail


def test_rejections_name_the_metric_when_validation_refused_a_value() -> None:
    err = "InvalidReading: citysense:plug: voltage=3000 V outside 0..1000"
    h = assess(sensor(series("power"), rejects=(RejectFacts(ProblemKind.OUT_OF_RANGE, 3, NOW, err),
                                                RejectFacts(ProblemKind.REJECTING, 1, NOW, "DecodeError: bad"))), NOW)
    assert [(p.kind.value, p.metric) for p in h.problems] == [("out_of_range", "voltage"), ("rejecting", None)]
    assert h.status == "out_of_range"


def test_status_is_the_worst_problem_in_the_contract_order() -> None:
    assert [k.value for k in SEVERITY] == ["silent", "late", "stuck", "out_of_range", "rejecting", "low_battery",
                                           "clock_skew", "low_uptime"]
    problems = [Problem(k, None, "", None) for k in reversed(SEVERITY)]
    for i in range(len(problems)):
        assert worst(problems[i:]) == problems[-1].kind.value
        assert worst(problems[: i + 1]) == problems[i].kind.value
    assert worst([]) == "ok"


def test_problems_come_worst_first() -> None:
    h = assess(sensor(series("battery", 5, ago_s=100), series("humidity", 99.9, ago_s=100, run=50),
                      clock=ClockFacts(600.0, NOW)), NOW)
    assert [p.kind.value for p in h.problems] == ["late", "stuck", "low_battery", "clock_skew"]


@pytest.mark.parametrize(("seed", "end"), [(1, datetime(2026, 11, 30, tzinfo=UTC)),
                                           (2, datetime(2026, 7, 15, tzinfo=UTC))])
def test_the_simulated_fleet_without_faults_is_never_stuck(seed: int, end: datetime) -> None:
    """The simulators publish what real devices publish, integer PM of LoRaWAN sensors included: three
    clean days (a winter and a summer week's end) must not trip the stuck rule at any reading."""
    from simulators.fleet import load_fleet
    from simulators.plan import build_plan

    plan = build_plan(load_fleet(), end - timedelta(days=3), end, seed=seed)
    by_series: dict[tuple[str, str], dict[datetime, float]] = {}
    for e in plan.events:
        for r in e.readings:
            if r.time is not None and r.metric in STUCK_RULES:
                by_series.setdefault((r.sensor_id, r.metric), {})[r.time] = r.value
    judged = 0
    for (sensor_id, metric), by_time in by_series.items():
        values = [by_time[t] for t in sorted(by_time)]
        run = 1
        for before, value in pairwise(values):
            run = run + 1 if value == before else 1
            if run >= STUCK_RULES[metric].repeats:  # only these could be stuck: ask the rule
                judged += 1
                assert kinds(sensor(series(metric, value, run=run))) == [], (sensor_id, metric, value, run)
    assert judged > 0  # the long runs at clean-air values were there to be judged
