"""Which rows and columns each policy report downloads as."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.policy_tables import policy_table
from api.schemas import (
    BinStatus,
    CleanlinessReport,
    DailyEnergy,
    DistrictHours,
    EnergyReport,
    Exceedance,
)

T = datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_energy_downloads_its_daily_kwh_per_district() -> None:
    rows = [DailyEnergy(day=date(2026, 11, 24), group="Leuven", kwh=12.5),
            DailyEnergy(day=date(2026, 11, 24), group=None, kwh=0.25)]
    rep = EnergyReport(start=T, end=T, daily_by_sensor=[DailyEnergy(day=date(2026, 11, 24), group="p:1", kwh=1.0)],
                       daily_by_district=rows, sensors=[], districts=[])
    table = policy_table(rep)
    assert table.name == "energy-daily-by-district"
    assert table.columns == ("day", "group", "kwh")
    assert table.rows == ({"day": date(2026, 11, 24), "group": "Leuven", "kwh": 12.5},
                          {"day": date(2026, 11, 24), "group": None, "kwh": 0.25})


def test_cleanliness_downloads_its_collection_list_in_order() -> None:
    bins = [BinStatus(sensor_id=f"ttn:{i}", district="Leuven", fill_level=90 - i, time=T, above_threshold=i == 0,
                      emptied_at=None, fill_rate_per_hour=None, hours_to_full=None, full_at=None) for i in range(3)]
    rep = CleanlinessReport(at=T, threshold=80, bins_above=1, collection_list=bins,
                            overflow_hours=[DistrictHours(district="Leuven", hours=2)], overflow_from=T, overflow_to=T)
    table = policy_table(rep)
    assert [r["sensor_id"] for r in table.rows] == ["ttn:0", "ttn:1", "ttn:2"]
    assert table.columns[:3] == ("sensor_id", "district", "fill_level")


def test_an_empty_report_still_has_its_header() -> None:
    assert policy_table(EnergyReport(start=T, end=T, daily_by_sensor=[], daily_by_district=[], sensors=[],
                                     districts=[])).columns == ("day", "group", "kwh")


def test_other_models_have_no_table() -> None:
    with pytest.raises(TypeError, match="no table for Exceedance"):
        policy_table(Exceedance(scope="district", id="Leuven", metric="pm25", standard="who_2021", limit=15,
                                days=1, valid_days=3))
