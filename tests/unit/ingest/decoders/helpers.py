"""Shared by the decoder tests: the fixture payloads and exact comparison of readings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest.decoders.base import DecodeContext
from models.reading import Reading

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "payloads"
BRUSSELS = ZoneInfo("Europe/Brussels")
RECEIVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CTX = DecodeContext(tz=BRUSSELS, received_at=RECEIVED)

Row = tuple[str, str, float, datetime | None]


def payload(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def _key(row: Row) -> tuple[str, str, str]:
    return row[0], row[1], row[3].isoformat() if row[3] else ""


def assert_readings(actual: Iterable[Reading], expected: Iterable[Row]) -> None:
    """Same readings in any order: sensor ids, metrics and times exactly, values to 1e-9 relative."""
    got = sorted(((r.sensor_id, r.metric, r.value, r.time) for r in actual), key=_key)
    want = sorted(expected, key=_key)
    assert [_key(r) for r in got] == [_key(r) for r in want]
    for g, w in zip(got, want, strict=True):
        assert g[2] == pytest.approx(w[2], rel=1e-9, abs=1e-12), f"{g[0]} {g[1]}"
        assert isinstance(g[2], float), f"{g[0]} {g[1]} value is {type(g[2]).__name__}"
        assert g[3] is None or g[3].utcoffset() is not None
