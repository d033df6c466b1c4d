"""Which hours a Telraam poll asks for (pure).

Telraam reports hourly intervals stamped with their start in UTC; an hour is complete once it has
ended. A segment resumes at the hour after the last one stored, a new one starts at `--since`,
and a long stretch is cut into windows no longer than the API accepts in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Window:
    """Hours [start, end) of one segment, asked for in one call."""

    segment: str
    start: datetime
    end: datetime

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)


def floor_hour(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def complete_until(now: datetime) -> datetime:
    """The end of the last complete hour: the hour being counted now is never asked for."""
    return floor_hour(now)


def resume_from(last_stored: datetime | None, since: datetime) -> datetime:
    """Where a segment continues: the hour after the last stored one, or `since` for a new segment.
    A stored hour before `since` still wins, so restarting with a later --since leaves no gap."""
    if last_stored is None:
        return floor_hour(since)
    return floor_hour(last_stored) + HOUR


def windows(segment: str, start: datetime, end: datetime, max_window: timedelta) -> list[Window]:
    """[start, end) cut into consecutive windows of at most `max_window` (whole hours), oldest first."""
    step = max(HOUR, HOUR * int(max_window / HOUR))
    out: list[Window] = []
    t = floor_hour(start)
    end = floor_hour(end)
    while t < end:
        out.append(Window(segment, t, min(t + step, end)))
        t += step
    return out


def telraam_time(t: datetime) -> str:
    """The API's `time_start`/`time_end` notation: `YYYY-MM-DD HH:MM:SSZ` in UTC."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# Hours this far back are final: Telraam will not add rows for them any more. A younger empty
# stretch is asked again next pass, since a camera may upload its counts late.
SETTLED = timedelta(hours=48)


def advance(window: Window, last_row_hour: datetime | None, now: datetime) -> datetime:
    """Where this process asks from next for the window's segment, once the window's rows are acknowledged."""
    if window.end <= now - SETTLED:
        return window.end
    if last_row_hour is None:
        return window.start
    return max(window.start, floor_hour(last_row_hour) + HOUR)
