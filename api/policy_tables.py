"""The table each policy report is downloaded as (`format=csv` / `csv-nl`): the rows its dashboard panel
draws, one line each, with the JSON answer's field names as columns. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from api.schemas import (
    AirQualityReport,
    BinStatus,
    CleanlinessReport,
    DailyEnergy,
    DailyModeCount,
    EnergyReport,
    Exceedance,
    MobilityReport,
)


@dataclass(frozen=True)
class Table:
    name: str  # the download's file name, without extension
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]


def _table(name: str, model: type[BaseModel], rows: Sequence[BaseModel]) -> Table:
    return Table(name, tuple(model.model_fields), tuple(r.model_dump() for r in rows))


def policy_table(report: BaseModel) -> Table:
    """Mobility: counts per local day, district and mode; energy: kWh per local day and district; air
    quality: exceedance days per sensor and district; cleanliness: the collection list."""
    if isinstance(report, MobilityReport):
        return _table("mobility-daily", DailyModeCount, report.daily)
    if isinstance(report, EnergyReport):
        return _table("energy-daily-by-district", DailyEnergy, report.daily_by_district)
    if isinstance(report, AirQualityReport):
        return _table("air-quality-exceedances", Exceedance, report.exceedances)
    if isinstance(report, CleanlinessReport):
        return _table("cleanliness-collection-list", BinStatus, report.collection_list)
    raise TypeError(f"no table for {type(report).__name__}")
