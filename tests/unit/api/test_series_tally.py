"""The in-memory tally of a series (api/analysis/series_tally.py) against plain recomputation
over the readings it was given: run of the newest value, its start, the median gap."""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta

from api.analysis.health import SensorFacts, SeriesFacts, Thresholds, assess, calm_for_s, reassess
from api.analysis.series_tally import MIN_GAPS, RECENT_GAPS, SeriesTally

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _plain(readings: list[tuple[datetime, float]]) -> tuple[float, int, datetime, float | None]:
    """Newest value, its trailing run, the run's first time, the median of the last gaps."""
    last_v = readings[-1][1]
    run = 0
    for _, v in reversed(readings):
        if v != last_v:
            break
        run += 1
    since = readings[-run][0]
    gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(readings)][-RECENT_GAPS:]
    return last_v, run, since, statistics.median(gaps) if gaps else None


def test_a_tally_fed_reading_by_reading_matches_the_readings() -> None:
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 40)
        times = sorted({T0 + timedelta(seconds=rng.randint(0, 5000)) for _ in range(n)})
        readings = [(t, float(rng.choice([1.0, 2.0, 999.9]))) for t in times]
        tally = SeriesTally.first("pm25", *readings[0])
        for t, v in readings[1:]:
            assert tally.add(t, v)
        f = tally.facts()
        value, run, since, gap = _plain(readings)
        assert (f.last_value, f.run, f.run_since, f.last_time) == (value, run, since, readings[-1][0])
        assert f.median_gap_s == gap


def test_a_reading_not_newer_changes_nothing() -> None:
    tally = SeriesTally.first("pm25", T0, 5.0)
    assert tally.add(T0 + timedelta(seconds=10), 5.0)
    before = tally.facts()
    assert not tally.add(T0 + timedelta(seconds=10), 7.0)  # redelivered
    assert not tally.add(T0, 9.0)  # late
    assert tally.facts() == before


def test_the_databases_cadence_serves_until_the_bus_has_seen_enough_gaps() -> None:
    loaded = SeriesFacts("power", T0, 3.0, 1, T0, 600.0)
    tally = SeriesTally(loaded)
    for i in range(1, MIN_GAPS):
        tally.add(T0 + timedelta(seconds=10 * i), float(i))
        assert tally.facts().median_gap_s == 600.0
    tally.add(T0 + timedelta(seconds=10 * MIN_GAPS), 99.0)
    assert tally.facts().median_gap_s == 10.0


def test_a_load_heals_what_the_bus_lost_and_never_steps_back() -> None:
    tally = SeriesTally.first("pm25", T0, 5.0)
    # The database knows a newer reading the bus lost: it wins.
    tally.load(SeriesFacts("pm25", T0 + timedelta(minutes=5), 999.9, 12, T0 + timedelta(minutes=1), 20.0))
    f = tally.facts()
    assert (f.last_value, f.run, f.median_gap_s) == (999.9, 12, 20.0)
    # An older load (the query ran before the bus's reading arrived) keeps the bus's reading.
    tally.add(T0 + timedelta(minutes=6), 999.9)
    tally.load(SeriesFacts("pm25", T0 + timedelta(minutes=5), 999.9, 12, T0 + timedelta(minutes=1), 30.0))
    f = tally.facts()
    # One gap on the bus is too few to outvote the database's cadence.
    assert (f.last_time, f.run, f.median_gap_s) == (T0 + timedelta(minutes=6), 13, 30.0)


def test_a_sensor_is_judged_alike_at_any_time_within_its_calm() -> None:
    t = Thresholds()
    for interval in (10.0, 600.0, 3600.0, None):
        gap = interval
        facts = SensorFacts("s", T0, T0, (SeriesFacts("pm25", T0, 5.0, 1, T0, gap),))
        calm = calm_for_s(gap, t)
        at_last = assess(facts, T0, t)
        assert assess(facts, T0 + timedelta(seconds=calm), t) == at_last
        assert assess(facts, T0 + timedelta(seconds=calm + 0.001), t).status in ("late", "silent")


def test_reassessing_from_the_calm_judgement_equals_assessing_afresh() -> None:
    rng = random.Random(11)
    t = Thresholds()
    for _ in range(300):
        gap = rng.choice([10.0, 600.0, 3600.0, None])
        last = T0 - timedelta(seconds=rng.uniform(0, 3 * 86400))
        series = (SeriesFacts("pm25", last, rng.choice([5.0, 999.9]), rng.randint(1, 20), last, gap),
                  SeriesFacts("battery", last, rng.choice([10.0, 80.0]), 1, last, gap))
        facts = SensorFacts("s", last, last, series)
        calm = assess(facts, last, t)
        for _ in range(5):
            now = last + timedelta(seconds=rng.uniform(0, 4 * 86400))
            assert reassess(calm, facts, now, t) == assess(facts, now, t)
