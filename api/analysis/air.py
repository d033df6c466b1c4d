"""Air quality: daily means and days above the health guidelines and legal limit values.

Sources (µg/m³, 24-hour means):
- WHO global air quality guidelines 2021 (ISBN 978-92-4-003422-8), table 0.1, 24-hour AQG
  levels: PM2.5 15, PM10 45, NO2 25 (the 99th percentile, i.e. 3-4 exceedance days a year).
- EU Directive 2008/50/EC, annex XI: PM10 daily limit value 50, not to be exceeded more
  than 35 times a calendar year. (The directive sets no daily limit for PM2.5; for NO2 its
  limit values are hourly (200) and annual (40), not daily.)
A day counts only when at least 18 of its hours have data (75 %, the directive's
aggregation rule, annex XI/VII).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AIR_METRICS = ("pm25", "pm10", "no2")
MIN_HOURS = 18


@dataclass(frozen=True, slots=True)
class Standard:
    name: str
    metric: str
    limit: float  # µg/m³, 24-hour mean; a day above it (strictly) is an exceedance
    allowed_per_year: int | None
    source: str


WHO_2021 = "WHO global air quality guidelines 2021, 24-hour AQG level"
EU_2008_50 = "EU Directive 2008/50/EC annex XI, daily limit value"

STANDARDS: tuple[Standard, ...] = (
    Standard("who_2021", "pm25", 15.0, 4, WHO_2021),
    Standard("who_2021", "pm10", 45.0, 4, WHO_2021),
    Standard("who_2021", "no2", 25.0, 4, WHO_2021),
    Standard("eu_limit", "pm10", 50.0, 35, EU_2008_50),
)


def mean_of(values: Iterable[float]) -> float | None:
    vs = list(values)
    return sum(vs) / len(vs) if vs else None


def valid_day(hours_with_data: int, min_hours: int = MIN_HOURS) -> bool:
    return hours_with_data >= min_hours


def exceedance_days(daily_means: Iterable[float | None], limit: float) -> int:
    """Days whose mean lies strictly above `limit`; days without a (valid) mean are None and never count."""
    return sum(1 for m in daily_means if m is not None and m > limit)
