"""What the simulators write about each sensor into the `sensors` table."""

from __future__ import annotations

import orjson

from simulators.fleet import load_fleet
from simulators.fleet_registration import metadata_json


def test_metadata_carries_the_fleet_metadata_and_where_it_came_from() -> None:
    fleet = load_fleet()
    bin_sensor = fleet.by_id("ttn:eui-24e124136c225101")
    meta = orjson.loads(metadata_json(bin_sensor))
    assert meta["depth_mm"] == 1150
    assert isinstance(meta["depth_mm"], int)
    assert meta["collection_days"][0] == "mon"
    assert meta["simulated"] is True
    assert meta["format"] == "ttn"
    assert meta["interval_s"] == 1800
    household = orjson.loads(metadata_json(fleet.by_id("dsmr:1SAG1100042101")))
    assert household["pv_kwp"] == 4.2
    assert household["gas"] is True
