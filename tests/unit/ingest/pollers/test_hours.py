from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.pollers.hours import HOUR, SETTLED, Window, advance, complete_until, resume_from, telraam_time, windows


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_the_running_hour_is_never_complete() -> None:
    assert complete_until(t(5, 10, 59)) == t(5, 10)
    assert complete_until(t(5, 10, 0)) == t(5, 10)


def test_resume_after_the_last_stored_hour_or_from_since() -> None:
    assert resume_from(t(5, 10), since=t(1, 0)) == t(5, 11)
    assert resume_from(None, since=t(1, 0, 30)) == t(1, 0)
    assert resume_from(t(1, 3), since=t(4, 0)) == t(1, 4)  # a later --since leaves no gap


def test_windows_are_whole_hours_of_at_most_the_maximum() -> None:
    ws = windows("7", t(1, 0), t(4, 5), timedelta(days=1))
    assert [(w.start, w.end) for w in ws] == [(t(1, 0), t(2, 0)), (t(2, 0), t(3, 0)), (t(3, 0), t(4, 0)),
                                              (t(4, 0), t(4, 5))]
    assert windows("7", t(4, 5), t(4, 5), timedelta(days=1)) == []


@given(st.integers(0, 2000), st.integers(0, 3000), st.integers(1, 200))
def test_windows_cover_the_span_exactly_once(offset_h: int, span_h: int, max_h: int) -> None:
    start = t(1, 0) + offset_h * HOUR
    ws = windows("1", start, start + span_h * HOUR, max_h * HOUR)
    assert sum(w.hours for w in ws) == span_h
    assert all(0 < w.hours <= max_h for w in ws)
    assert all(a.end == b.start for a, b in itertools.pairwise(ws))


def test_advance_past_settled_empty_windows_only() -> None:
    now = t(20, 12)
    old = Window("1", now - SETTLED - timedelta(days=1), now - SETTLED)
    assert advance(old, None, now) == old.end  # nothing will come for these hours any more
    young = Window("1", now - timedelta(hours=5), now)
    assert advance(young, None, now) == young.start  # a camera may still upload them
    assert advance(young, now - timedelta(hours=2), now) == now - timedelta(hours=1)


def test_telraam_time_notation() -> None:
    assert telraam_time(datetime(2026, 11, 5, 11, tzinfo=UTC)) == "2026-11-05 11:00:00Z"
