from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.errors import InvalidReading
from ingest.validation import check, require_valid, split_valid
from models.reading import Reading

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
TEN_MIN = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("reading", "problem"),
    [
        (Reading("s", "power", 120.0, NOW), None),
        (Reading("s", "power", -60.2, NOW), None),  # exporting
        (Reading("s", "voltage", 3000.0, NOW), "voltage=3000 V outside 0..1000"),  # battery mV mistaken for V
        (Reading("s", "frequency", 198.0, NOW), "frequency=198 Hz outside 40..70"),
        (Reading("s", "humidity", 101.0, NOW), "humidity=101 % outside 0..100"),
        (Reading("s", "bikes", -1.0, NOW), "bikes=-1 count outside"),
        (Reading("s", "pm25", float("nan"), NOW), "pm25 is nan, not a finite number"),
        (Reading("s", "pm25", float("inf"), NOW), "pm25 is inf, not a finite number"),
        (Reading("s", "pm25", 1.0, NOW + TEN_MIN), None),
        (Reading("s", "pm25", 1.0, NOW + TEN_MIN + timedelta(seconds=1)), "is in the future"),
        (Reading("s", "pm25", 1.0, None), None),
        (Reading("s", "smell", 1.0, NOW), "unknown metric 'smell'"),
    ],
)
def test_check(reading: Reading, problem: str | None) -> None:
    why = check(reading, NOW, TEN_MIN)
    if problem is None:
        assert why is None
    else:
        assert why is not None
        assert problem in why
        assert why.startswith("s: ")


def test_split_keeps_order_and_reasons() -> None:
    rs = [Reading("a", "power", 1.0, NOW), Reading("b", "voltage", -1.0, NOW), Reading("c", "power", 2.0, NOW)]
    good, bad = split_valid(rs, NOW, TEN_MIN)
    assert good == [rs[0], rs[2]]
    assert len(bad) == 1
    assert bad[0].startswith("b: voltage")


def test_require_valid_raises_with_every_reason() -> None:
    rs = [Reading("a", "voltage", -1.0, NOW), Reading("b", "humidity", 200.0, NOW)]
    with pytest.raises(InvalidReading, match=r"a: voltage.*; b: humidity"):
        require_valid(rs, NOW, TEN_MIN)
