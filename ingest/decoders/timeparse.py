"""Turning the many ways devices write time into tz-aware UTC datetimes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.errors import DecodeError

_MAX_EPOCH = 4102444800.0  # 2100-01-01: beyond it an epoch is in milliseconds or garbage


def from_epoch(seconds: float) -> datetime:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        raise DecodeError(f"timestamp {seconds!r} is not a number of seconds")
    if not 0 <= seconds < _MAX_EPOCH:
        raise DecodeError(f"timestamp {seconds!r} is outside 1970..2100")
    return datetime.fromtimestamp(seconds, UTC)


def from_iso(text: str, tz: ZoneInfo) -> datetime:
    """ISO-8601 / RFC 3339; a time without a zone is local time in `tz` (DST included).

    Nanosecond fractions (The Things Stack) are cut to microseconds; a space may stand for `T`.
    """
    if not isinstance(text, str):
        raise DecodeError(f"timestamp {text!r} is not a string")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            s = s[: dot + 7] + s[end:]
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError as exc:
        raise DecodeError(f"timestamp {text!r} is not ISO-8601") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by the zone offset
        raise DecodeError(f"timestamp {text!r} is out of range") from None


def from_local(naive: datetime, tz: ZoneInfo, *, dst: bool | None = None) -> datetime:
    """A wall-clock time in `tz` as UTC.

    `dst` is what the device says about daylight saving (DSMR's S/W suffix): it picks
    the right hour of the autumn fold, and when it contradicts the zone (a meter with
    a wrong DST flag) it wins, because it tells which offset the clock ran on.
    Without it the earlier of two folded hours is taken, as `datetime` does.
    """
    try:
        first = naive.replace(tzinfo=tz, fold=0)
        if dst is None:
            return first.astimezone(UTC)
        for fold in (0, 1):
            candidate = naive.replace(tzinfo=tz, fold=fold)
            if bool(candidate.dst()) == dst:
                return candidate.astimezone(UTC)
        standard = (first.utcoffset() or timedelta(0)) - (first.dst() or timedelta(0))
        offset = standard + (timedelta(hours=1) if dst else timedelta(0))
        return (naive - offset).replace(tzinfo=UTC)
    except OverflowError:
        raise DecodeError(f"local time {naive.isoformat()} is out of range") from None
