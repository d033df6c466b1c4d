"""ingest/derived.py: readings derived after decoding (the bin fill level)."""

from __future__ import annotations

import pytest

from ingest.decoders.base import DecodeContext
from ingest.derived import derive, fill_level
from models.reading import Reading
from tests.unit.ingest.decoders.helpers import BRUSSELS, RECEIVED, utc

T = utc(2023, 5, 19, 5, 33, 35)


def _ctx(depths: dict[str, float]) -> DecodeContext:
    return DecodeContext(tz=BRUSSELS, received_at=RECEIVED, bin_depth_mm=depths)


def test_fill_level_is_appended_for_bins_with_a_known_depth() -> None:
    readings = [
        Reading("ttn:bin-1", "battery", 92.0, T),
        Reading("ttn:bin-1", "distance", 2116.0, T),
        Reading("ttn:bin-2", "distance", 300.0, None),
        Reading("ttn:bin-3", "distance", 500.0, T),  # depth unknown: no fill level
    ]
    got = derive(readings, _ctx({"ttn:bin-1": 2600.0, "ttn:bin-2": 1200.0}))
    assert got[:4] == readings
    assert [(r.sensor_id, r.metric, r.time) for r in got[4:]] == [
        ("ttn:bin-1", "fill_level", T), ("ttn:bin-2", "fill_level", None),
    ]
    assert [r.value for r in got[4:]] == pytest.approx([(2600 - 2116) / 2600 * 100, 75.0])


@pytest.mark.parametrize(("distance", "depth", "fill"), [
    (0.0, 1000.0, 100.0),
    (1000.0, 1000.0, 0.0),
    (1300.0, 1000.0, 0.0),  # echo from below the bottom: empty, not negative
    (-5.0, 1000.0, 100.0),
    (250.0, 1000.0, 75.0),
])
def test_fill_level_is_clamped(distance: float, depth: float, fill: float) -> None:
    assert fill_level(distance, depth) == pytest.approx(fill)


def test_nothing_else_is_derived() -> None:
    readings = [Reading("x", "temperature", 1.0, None)]
    assert derive(readings, _ctx({"x": 1000.0})) == readings
    assert derive([], _ctx({})) == []


@pytest.mark.parametrize("depth", [0.0, -100.0, float("nan"), float("inf")])
def test_unusable_depth_gives_no_fill_level(depth: float) -> None:
    readings = [Reading("b", "distance", 100.0, None)]
    assert derive(readings, _ctx({"b": depth})) == readings
