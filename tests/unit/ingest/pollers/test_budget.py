from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.pollers.budget import Budget, retry_after_s

NOW = datetime(2026, 11, 5, 10, 0, 0, tzinfo=UTC)


def test_calls_are_spread_over_the_day() -> None:
    b = Budget(calls_per_day=1000)
    assert b.spacing_s == pytest.approx(86.4)
    assert b.wait_s(None, 100.0) == 0.0
    assert b.wait_s(100.0, 110.0) == pytest.approx(76.4)
    assert b.wait_s(100.0, 300.0) == 0.0
    # A day of calls at that spacing stays within the budget.
    assert 86400 / b.spacing_s <= 1000 + 1e-9


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("Thu, 05 Nov 2026 10:01:30 GMT", 90.0),
    ("Thu, 05 Nov 2026 09:00:00 GMT", 0.0),  # already past
    (None, 60.0),
    ("", 60.0),
    ("soon", 60.0),
])
def test_retry_after_seconds_or_http_date(header: str | None, seconds: float) -> None:
    assert retry_after_s(header, NOW, default_s=60.0) == pytest.approx(seconds)
