from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.timebuckets import (
    Calendar,
    bucket_start,
    bucket_starts,
    check_range,
    count_buckets,
    is_hour_aligned,
    parse_bucket,
    rollups_fit,
    whole_days,
)

BXL = ZoneInfo("Europe/Brussels")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "width", "calendar"),
    [
        ("5m", timedelta(minutes=5), None),
        ("15min", timedelta(minutes=15), None),
        ("1h", timedelta(hours=1), None),
        ("hour", timedelta(hours=1), None),
        (" 6H ", timedelta(hours=6), None),
        ("90s", timedelta(seconds=90), None),
        ("1d", timedelta(days=1), None),
        ("2w", timedelta(days=14), None),
        ("day", None, Calendar.DAY),
        ("week", None, Calendar.WEEK),
        ("Month", None, Calendar.MONTH),
    ],
)
def test_parse_bucket(text: str, width: timedelta | None, calendar: Calendar | None) -> None:
    b = parse_bucket(text)
    assert (b.width, b.calendar) == (width, calendar)


@pytest.mark.parametrize("text", ["", "0m", "-5m", "5", "5 parsecs", "1y", "367d", "1.5h", "day5", "1e3s"])
def test_parse_bucket_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="bucket"):
        parse_bucket(text)


@pytest.mark.parametrize(
    ("t", "bucket", "start"),
    [
        (utc(2026, 11, 26, 12, 34), "5m", utc(2026, 11, 26, 12, 30)),
        (utc(2026, 11, 26, 12, 34), "5h", utc(2026, 11, 26, 9)),  # aligned to 2000-01-03, like time_bucket
        (utc(2026, 11, 26, 12, 34), "7d", utc(2026, 11, 23)),  # a Monday
        # calendar days in Brussels, across both DST changes
        (utc(2026, 3, 29, 12), "day", utc(2026, 3, 28, 23)),
        (utc(2026, 3, 29, 21, 59), "day", utc(2026, 3, 28, 23)),
        (utc(2026, 3, 29, 22), "day", utc(2026, 3, 29, 22)),
        (utc(2026, 10, 25, 22, 59), "day", utc(2026, 10, 24, 22)),
        (utc(2026, 10, 25, 23), "day", utc(2026, 10, 25, 23)),
        (utc(2026, 11, 26, 12), "week", utc(2026, 11, 22, 23)),
        (utc(2026, 3, 29, 12), "month", utc(2026, 2, 28, 23)),
        (utc(2026, 4, 1, 0), "month", utc(2026, 3, 31, 22)),
    ],
)
def test_bucket_start(t: datetime, bucket: str, start: datetime) -> None:
    assert bucket_start(t, parse_bucket(bucket), BXL) == start


def test_dst_days_last_23_and_25_hours() -> None:
    days = list(bucket_starts(parse_bucket("day"), utc(2026, 3, 28, 12), utc(2026, 3, 31), BXL))
    assert [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(days)] == [24, 23, 24]
    days = list(bucket_starts(parse_bucket("day"), utc(2026, 10, 24, 12), utc(2026, 10, 27), BXL))
    assert [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(days)] == [24, 25, 24]


@settings(deadline=None, max_examples=200)
@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    length=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400)),
    bucket=st.sampled_from(["15m", "1h", "5h", "1d", "1w", "day", "week", "month"]),
)
def test_count_matches_listing(start: datetime, length: timedelta, bucket: str) -> None:
    b = parse_bucket(bucket)
    end = start + length
    starts = list(bucket_starts(b, start, end, BXL))
    assert count_buckets(b, start, end, BXL) == len(starts)
    assert starts[0] <= start < (starts[1] if len(starts) > 1 else end + timedelta(days=32))
    assert all(bucket_start(s, b, BXL) == s for s in starts)


def test_rollups_fit() -> None:
    day, h6, m15 = parse_bucket("day"), parse_bucket("6h"), parse_bucket("15m")
    a, b = utc(2026, 3, 27, 23), utc(2026, 4, 2, 22)
    assert rollups_fit(day, a, b, BXL)
    assert rollups_fit(h6, a, b, BXL)
    assert not rollups_fit(m15, a, b, BXL)
    assert not rollups_fit(day, a + timedelta(minutes=30), b, BXL)
    # a zone with half-hour offsets: local midnights are not on UTC hours
    assert not rollups_fit(day, a, b, ZoneInfo("Asia/Kolkata"))
    assert rollups_fit(parse_bucket("1h"), a, b, ZoneInfo("Asia/Kolkata"))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 1, 1), utc(2026, 1, 2), "'from' needs a time zone"),
        (utc(2026, 1, 1), datetime(2026, 1, 2), "'to' needs a time zone"),
        (utc(2026, 1, 2), utc(2026, 1, 2), "after"),
        (utc(2026, 1, 3), utc(2026, 1, 2), "after"),
        (utc(1900, 1, 1), utc(2026, 1, 2), "between"),
        (utc(2026, 1, 1), utc(9999, 1, 2), "between"),
    ],
)
def test_check_range(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_range(start, end)


def test_hour_aligned() -> None:
    assert is_hour_aligned(utc(2026, 1, 1, 5))
    assert is_hour_aligned(datetime(2026, 1, 1, 5, tzinfo=BXL))
    assert not is_hour_aligned(utc(2026, 1, 1, 5, 0, 1))
    assert not is_hour_aligned(datetime(2026, 1, 1, 5, tzinfo=ZoneInfo("Asia/Kolkata")))


def _midnights_by_hour(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local midnights in [start, end], found by looking at every whole UTC hour (another way
    than api.timebuckets' date arithmetic; exact for zones whose midnights are on whole hours)."""
    t = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while t <= end:
        local = t.astimezone(tz)
        if t >= start and (local.hour, local.minute) == (0, 0):
            out.append(t)
        t += timedelta(hours=1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)).map(lambda d: d.replace(tzinfo=UTC)),
    hours=st.integers(1, 24 * 40),
    minutes=st.sampled_from([0, 0, 0, 17]),
)
def test_whole_days_are_the_local_days_inside_the_range(start: datetime, hours: int, minutes: int) -> None:
    start = start.replace(second=0, microsecond=0, minute=minutes)
    end = start + timedelta(hours=hours)
    midnights = _midnights_by_hour(start, end, BXL)
    want = (midnights[0], midnights[-1]) if len(midnights) >= 2 else None
    assert whole_days(start, end, BXL) == want


def test_whole_days_over_dst() -> None:
    # 29 March 2026 has 23 hours, 25 October 25
    assert whole_days(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), BXL) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert whole_days(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), BXL) == (
        utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert whole_days(utc(2026, 3, 28, 23), utc(2026, 3, 29, 21), BXL) is None
    assert whole_days(utc(2026, 3, 28, 22), utc(2026, 3, 30, 23), BXL) == (utc(2026, 3, 28, 23), utc(2026, 3, 30, 22))
