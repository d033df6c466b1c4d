"""Coverage's arithmetic (api/analysis/coverage.py): what a bucket owes, clipped to the range and
to each sensor's first reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.aggregation import AggRow
from api.analysis.coverage import Cadence, expected_readings, with_coverage

T0 = datetime(2026, 5, 4, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_a_bucket_owes_each_sensors_share_from_its_first_reading() -> None:
    cadences = [Cadence("g", T0 - HOUR, 300.0), Cadence("g", T0 + timedelta(minutes=30), 600.0)]
    assert expected_readings(T0, T0 + HOUR, cadences) == pytest.approx(12 + 3)
    assert expected_readings(T0 - 2 * HOUR, T0 - HOUR, cadences) == 0.0  # before anyone reported


def test_rows_get_count_over_owed_and_none_where_nothing_is_owed() -> None:
    rows = [AggRow(T0, "g", 1.0, 9), AggRow(T0 + HOUR, "g", 1.0, 12), AggRow(T0, "h", 2.0, 4)]
    out = with_coverage(rows, [Cadence("g", T0, 300.0)], T0 + timedelta(minutes=15), T0 + 2 * HOUR,
                        lambda b: b + HOUR)
    # The first bucket starts before the range: 45 minutes owed, 9 of them received.
    assert [r.coverage for r in out] == [pytest.approx(1.0), pytest.approx(1.0), None]
    assert [(r.bucket, r.group, r.value, r.count) for r in out] == [(r.bucket, r.group, r.value, r.count)
                                                                     for r in rows]
