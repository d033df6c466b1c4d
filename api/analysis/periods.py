"""Periods and their comparison."""

from __future__ import annotations

from datetime import datetime


def previous_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period of the same length that ends where [start, end) begins."""
    return start - (end - start), start


def percent_change(current: float, previous: float) -> float | None:
    """(current - previous) / previous in %; None when there is nothing to compare against
    (a change from 0 has no finite percentage, and inventing one would mislead)."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous) * 100.0
