"""Time buckets: fixed intervals (5m, 1h, 1d…) and calendar ones (day, week, month) in a time
zone. Pure: the same edges TimescaleDB's time_bucket() computes, so gap filling, row limits and
rollup routing can be decided in Python before any SQL runs.

Fixed buckets are aligned to time_bucket's default origin, Monday 2000-01-03 00:00 UTC;
calendar buckets start at local midnight (weeks on Monday, months on the 1st), so a
day bucket lasts 23 or 25 hours on DST days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
# Times outside this range are refused: it keeps every edge computation (and the
# bucket after the last one) inside what Python's datetime and PostgreSQL both hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MIN_WIDTH = timedelta(seconds=1)
MAX_WIDTH = timedelta(days=366)
_HOUR = timedelta(hours=1)
_US = timedelta(microseconds=1)

_FIXED = re.compile(r"(?P<n>[1-9]\d{0,8})\s*(?P<unit>s|sec|m|min|h|d|w)")
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class Calendar(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


_CALENDAR_INTERVAL = {Calendar.DAY: "1 day", Calendar.WEEK: "7 days", Calendar.MONTH: "1 month"}


@dataclass(frozen=True, slots=True)
class Bucket:
    """Exactly one of `width` (fixed) and `calendar` is set."""

    text: str
    width: timedelta | None = None
    calendar: Calendar | None = None

    @property
    def sql_interval(self) -> timedelta | str:
        if self.width is not None:
            return self.width
        return _CALENDAR_INTERVAL[self.calendar or Calendar.DAY]

    @property
    def hourly_multiple(self) -> bool:
        """Whether whole hourly rollups fall into one bucket each (before looking at the zone)."""
        if self.width is None:
            return True
        return self.width % _HOUR == timedelta(0)


def parse_bucket(text: str) -> Bucket:
    s = text.strip().lower()
    if s in ("hour", "hourly"):
        return Bucket(text=s, width=_HOUR)
    if s in ("day", "week", "month"):
        return Bucket(text=s, calendar=Calendar(s))
    m = _FIXED.fullmatch(s)
    if m is None:
        raise ValueError(
            f"bad bucket {text!r}: use a fixed interval such as 5m, 15m, 1h, 6h, 1d "
            "(units s, m, h, d, w) or a calendar bucket: day, week, month"
        )
    width = timedelta(seconds=int(m["n"]) * _UNIT[m["unit"]])
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"bucket {text!r} out of range: between 1s and 366d")
    return Bucket(text=s, width=width)


def check_range(start: datetime, end: datetime) -> None:
    """ValueError for naive times, an empty range or times outside 1970..2200."""
    for name, t in (("from", start), ("to", end)):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"'{name}' needs a time zone, e.g. 2026-11-26T10:00:00Z or +01:00")
        if not EARLIEST <= t <= LATEST:
            raise ValueError(f"'{name}' must lie between 1970-01-01 and 2200-01-01")
    if end <= start:
        raise ValueError("'to' must be after 'from' ('from' is inclusive, 'to' exclusive)")


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    # fold=0: where midnight repeats the first one counts; Brussels changes at 02:00/03:00.
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


def _calendar_start(t: datetime, cal: Calendar, tz: ZoneInfo) -> date:
    d = t.astimezone(tz).date()
    if cal is Calendar.WEEK:
        return d - timedelta(days=d.weekday())
    if cal is Calendar.MONTH:
        return d.replace(day=1)
    return d


def _next_date(d: date, cal: Calendar) -> date:
    if cal is Calendar.DAY:
        return d + timedelta(days=1)
    if cal is Calendar.WEEK:
        return d + timedelta(days=7)
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def bucket_start(t: datetime, bucket: Bucket, tz: ZoneInfo) -> datetime:
    """The start of the bucket holding `t`, in UTC."""
    if bucket.width is not None:
        n = (t - ORIGIN) // bucket.width
        return ORIGIN + n * bucket.width
    assert bucket.calendar is not None
    return _local_midnight(_calendar_start(t, bucket.calendar, tz), tz)


def bucket_end(start: datetime, bucket: Bucket, tz: ZoneInfo) -> datetime:
    """The end (exclusive) of the bucket starting at `start`, in UTC."""
    if bucket.width is not None:
        return start + bucket.width
    assert bucket.calendar is not None
    return _local_midnight(_next_date(_calendar_start(start, bucket.calendar, tz), bucket.calendar), tz)


def count_buckets(bucket: Bucket, start: datetime, end: datetime, tz: ZoneInfo) -> int:
    """How many buckets overlap [start, end), computed without listing them."""
    last = end - _US
    if bucket.width is not None:
        return (bucket_start(last, bucket, tz) - bucket_start(start, bucket, tz)) // bucket.width + 1
    assert bucket.calendar is not None
    d0 = _calendar_start(start, bucket.calendar, tz)
    d1 = _calendar_start(last, bucket.calendar, tz)
    if bucket.calendar is Calendar.MONTH:
        return (d1.year - d0.year) * 12 + d1.month - d0.month + 1
    return (d1 - d0).days // (7 if bucket.calendar is Calendar.WEEK else 1) + 1


def bucket_starts(bucket: Bucket, start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """Every bucket start overlapping [start, end), oldest first, in UTC."""
    if bucket.width is not None:
        t = bucket_start(start, bucket, tz)
        while t < end:
            yield t
            t += bucket.width
        return
    assert bucket.calendar is not None
    d = _calendar_start(start, bucket.calendar, tz)
    while (t := _local_midnight(d, tz)) < end:
        yield t
        d = _next_date(d, bucket.calendar)


def is_hour_aligned(t: datetime) -> bool:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0) == t


def rollups_fit(bucket: Bucket, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether hourly rollups cover exactly the same readings as raw rows would: every bucket
    edge and both ends of the range on a whole UTC hour."""
    if not (bucket.hourly_multiple and is_hour_aligned(start) and is_hour_aligned(end)):
        return False
    if bucket.width is not None:
        return True  # the origin is on an hour, and so is every multiple of an hour after it
    # Calendar edges are local midnights: whole UTC hours only where the zone's offset is.
    return all(is_hour_aligned(t) for t in bucket_starts(bucket, start, end, tz))


def whole_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The local calendar days lying wholly inside [start, end): (first midnight at or after
    `start`, last midnight at or before `end`), in UTC; None when no whole day fits."""
    first = _calendar_start(start, Calendar.DAY, tz)
    lo = _local_midnight(first, tz)
    if lo < start:
        lo = _local_midnight(first + timedelta(days=1), tz)
    hi = _local_midnight(_calendar_start(end, Calendar.DAY, tz), tz)
    return (lo, hi) if lo < hi else None
