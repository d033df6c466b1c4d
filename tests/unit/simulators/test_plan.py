"""The plan: deterministic, ordered, additive over periods, and exact about what the database must hold."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from models.reading import Reading
from simulators.faults import FAULTS, FaultConfig
from simulators.plan import Event, PlanStats, build_plan, expected_rows, iter_events
from simulators.testing import sample_fleet

FLEET = sample_fleet()
START = datetime(2026, 11, 20, 6, tzinfo=UTC)


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    faults = FaultConfig(frozenset(FAULTS), 0.05)
    a = build_plan(FLEET, START, START + timedelta(hours=12), 7, faults)
    b = build_plan(FLEET, START, START + timedelta(hours=12), 7, faults)
    c = build_plan(FLEET, START, START + timedelta(hours=12), 8, faults)
    assert a.events == b.events
    assert a.stats == b.stats
    assert [e.payload for e in a.events] != [e.payload for e in c.events]


def test_events_are_in_publish_order_within_the_period() -> None:
    plan = build_plan(FLEET, START, START + timedelta(days=2), 3, FaultConfig(frozenset({"late"}), 0.1))
    times = [e.publish_at for e in plan.events]
    assert times == sorted(times)
    assert START.timestamp() <= times[0]
    assert times[-1] < (START + timedelta(days=2)).timestamp()
    assert [e.seq for e in plan.events] != sorted(e.seq for e in plan.events)  # late ones were reordered


def test_consecutive_periods_make_up_the_longer_one() -> None:
    mid = START + timedelta(hours=7, minutes=13)
    end = START + timedelta(hours=30)
    whole = build_plan(FLEET, START, end, 5).events
    parts = build_plan(FLEET, START, mid, 5).events + build_plan(FLEET, mid, end, 5).events

    def strip(events: tuple[Event, ...]) -> list[tuple[float, str, bytes]]:
        return [(e.publish_at, e.topic, e.payload) for e in events]

    assert strip(whole) == strip(parts)


def test_reports_of_earlier_measurements_belong_to_the_period_they_are_published_in() -> None:
    plan = build_plan(FLEET, START, START + timedelta(hours=2), 5)
    telraam = [e for e in plan.events if e.format == "telraam"]
    assert telraam
    assert all(e.measured_at < START.timestamp() + 3600 for e in telraam)
    assert telraam[0].measured_at < START.timestamp()  # the hour before the period, reported in it


def test_every_sensor_reports_at_its_interval() -> None:
    plan = build_plan(FLEET, START, START + timedelta(days=1), 5)
    per_sensor = PlanStats()
    for e in plan.events:
        per_sensor.messages[e.sensor_id] += 1
    for s in FLEET.sensors:
        expected = 86400 // s.interval_s * (2 if s.format == "shelly-gen1" else 1)
        assert abs(per_sensor.messages[s.id] - expected) <= 2, s.id


def test_stats_count_messages_readings_and_faults() -> None:
    plan = build_plan(FLEET, START, START + timedelta(hours=6), 5, FaultConfig(frozenset({"duplicates"}), 0.2))
    assert sum(plan.stats.messages.values()) == len(plan.events)
    assert plan.stats.readings == sum(len(e.readings) for e in plan.events)
    assert plan.stats.faults["duplicates"] == sum(e.duplicate for e in plan.events) > 0


def test_an_endless_plan_yields_lazily() -> None:
    stats = PlanStats()
    first = list(itertools.islice(iter_events(FLEET, START, None, 5, stats=stats), 50))
    assert len(first) == 50
    assert first == list(build_plan(FLEET, START, START + timedelta(days=1), 5).events[:50])


def test_refuses_naive_times_and_times_before_the_epoch() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_plan(FLEET, datetime(2026, 1, 1), datetime(2026, 1, 2), 1)
    with pytest.raises(ValueError, match="after 2024-01-01"):
        build_plan(FLEET, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), 1)
    assert build_plan(FLEET, START, START, 1).events == ()


def _event(readings: tuple[Reading, ...], faults: tuple[str, ...] = ()) -> Event:
    return Event(0.0, 0, "t", b"", readings, "s", "tasmota", 0, faults)


def test_expected_rows_keep_the_first_of_a_key_and_count_receive_stamped_rows() -> None:
    t = datetime(2026, 11, 20, tzinfo=UTC)
    events = [
        _event((Reading("a", "power", 1.0, t), Reading("a", "voltage", 230.0, None))),
        _event((Reading("a", "power", 1.0, t), Reading("a", "voltage", 230.0, None)), ("duplicate",)),
        _event((Reading("a", "power", 9.0, t),)),  # same key, later: the database keeps the first
        _event((), ("malformed",)),
    ]
    timed, untimed = expected_rows(events)
    assert timed == {("a", "power", t): 1.0}
    assert untimed == {("a", "voltage"): 2}  # a duplicate without a time is a second row (another receive time)
    assert events[0].timed is False
    assert events[2].timed is True
    assert events[3].malformed
