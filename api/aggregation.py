"""Aggregate requests: what they ask, whether rollups can answer them, how big the answer is,
and the post-processing of rows (gap filling, small-group suppression). Pure.

The SQL lives in api.queries.aggregates; this module decides everything that can be
decided without the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from api.timebuckets import Bucket, bucket_starts, count_buckets, rollups_fit, whole_days
from models.metrics import METRICS
from models.rollups import DAILY_ZONE


class Agg(StrEnum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"
    P50 = "p50"
    P95 = "p95"
    INCREASE = "increase"


# What hourly rollups hold exactly; percentiles need every raw value.
ROLLUP_AGGS = frozenset({Agg.AVG, Agg.MIN, Agg.MAX, Agg.SUM, Agg.COUNT, Agg.FIRST, Agg.LAST, Agg.INCREASE})


class GroupBy(StrEnum):
    SENSOR = "sensor"
    DISTRICT = "district"
    KIND = "kind"
    NONE = "none"


class Source(StrEnum):
    AUTO = "auto"
    RAW = "raw"
    ROLLUP = "rollup"  # hourly rollups
    DAILY = "daily"  # daily rollups for the whole local days, hourly ones for the hours at the range's ends


class Fill(StrEnum):
    NONE = "none"
    NULL = "null"


ALL_GROUP = "all"  # the group name when group_by=none


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def parse_bbox(text: str) -> BBox:
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"bad bbox {text!r}: use minlon,minlat,maxlon,maxlat in degrees") from None
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(
            f"bad bbox {text!r}: needs -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90"
        )
    return BBox(min_lon, min_lat, max_lon, max_lat)


@dataclass(frozen=True, slots=True)
class SensorFilter:
    districts: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    sensors: tuple[str, ...] = ()
    bbox: BBox | None = None
    include_private: bool = True


@dataclass(frozen=True, slots=True)
class AggregateRequest:
    metric: str
    bucket: Bucket
    agg: Agg
    group_by: GroupBy
    start: datetime
    end: datetime
    filter: SensorFilter
    fill: Fill = Fill.NONE


class TooLarge(ValueError):
    def __init__(self, buckets: int, groups: int, limit: int) -> None:
        super().__init__(
            f"too many rows: {buckets} bucket(s) x {groups} group(s) = {buckets * groups} > {limit}; "
            "use a coarser bucket, a shorter range, fewer groups or a filter"
        )
        self.buckets, self.groups, self.limit = buckets, groups, limit


def check_metric_agg(metric: str, agg: Agg) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(sorted(METRICS))}")
    if agg is Agg.INCREASE and not METRICS[metric].cumulative:
        cumulative = ", ".join(sorted(m for m, d in METRICS.items() if d.cumulative))
        raise ValueError(f"agg=increase needs a cumulative counter ({cumulative}); {metric!r} is not one")


def check_size(req: AggregateRequest, groups: int, limit: int, tz: ZoneInfo) -> int:
    """The number of buckets; TooLarge when buckets x groups exceeds `limit`."""
    n = count_buckets(req.bucket, req.start, req.end, tz)
    if n * max(groups, 1) > limit:
        raise TooLarge(n, max(groups, 1), limit)
    return n


@dataclass(frozen=True, slots=True)
class Route:
    """Where an answer is read from. For DAILY, `days` is the span of whole local days read from
    the daily rollups (UTC instants of two local midnights); the hours of [start, end) outside
    it come from the hourly rollups."""

    source: Source
    days: tuple[datetime, datetime] | None = None


def daily_days(req: AggregateRequest, tz: ZoneInfo, daily_zone: str = DAILY_ZONE) -> tuple[datetime, datetime] | None:
    """The whole local days of the range that the daily rollups answer exactly, or None.

    Needs everything the hourly rollups need (the rest of the range is read from them), a
    calendar bucket (every local day then lies in one bucket; fixed widths such as `1d` are
    aligned to UTC, not to local days) and the zone the daily table is kept in.
    """
    if tz.key != daily_zone or req.bucket.calendar is None or req.agg not in ROLLUP_AGGS:
        return None
    if not rollups_fit(req.bucket, req.start, req.end, tz):
        return None
    return whole_days(req.start, req.end, tz)


def choose_route(req: AggregateRequest, requested: Source, tz: ZoneInfo, daily_zone: str = DAILY_ZONE) -> Route:
    """Daily rollups, else hourly rollups, whenever they give the same answer as raw rows (the
    daily ones read ~24x fewer rows than the hourly ones, which read ~60x fewer than raw); raw
    rows otherwise. `requested` forces one, and a forced rollup that could not be exact is refused."""
    fits = req.agg in ROLLUP_AGGS and rollups_fit(req.bucket, req.start, req.end, tz)
    if requested is Source.ROLLUP and not fits:
        raise ValueError(
            "source=rollup needs agg in avg/min/max/sum/count/first/last/increase, a bucket that is a "
            "whole number of hours (or day/week/month) and 'from'/'to' on whole hours"
        )
    days = daily_days(req, tz, daily_zone)
    if requested is Source.DAILY and days is None:
        raise ValueError(
            f"source=daily needs CITYSENSE_TIMEZONE={daily_zone}, a day/week/month bucket, agg in "
            "avg/min/max/sum/count/first/last/increase, 'from'/'to' on whole hours and at least one whole "
            "local day between them"
        )
    if requested in (Source.RAW, Source.ROLLUP):
        return Route(requested)
    if days is not None:
        return Route(Source.DAILY, days)
    return Route(Source.ROLLUP if fits else Source.RAW)


def group_key(group_by: GroupBy, sensor_id: str, kind: str, district: str | None) -> str | None:
    if group_by is GroupBy.SENSOR:
        return sensor_id
    if group_by is GroupBy.DISTRICT:
        return district
    if group_by is GroupBy.KIND:
        return kind
    return ALL_GROUP


@dataclass(frozen=True, slots=True)
class AggRow:
    bucket: datetime
    group: str | None
    value: float | None
    count: int
    sensors: int = 0  # distinct contributing sensors; filled only where suppression needs it
    coverage: float | None = None  # received ÷ expected readings; set only when asked (api/analysis/coverage.py)


def _sort_key(row: AggRow) -> tuple[datetime, bool, str]:
    return (row.bucket, row.group is None, row.group or "")


def fill_gaps(
    rows: Sequence[AggRow], req: AggregateRequest, tz: ZoneInfo, groups: Iterable[str | None]
) -> list[AggRow]:
    """Every (bucket, group) of the range, the missing ones with value None and count 0.
    `groups`: the groups to fill for (the others present in `rows` are kept too)."""
    have = {(r.bucket, r.group): r for r in rows}
    all_groups = set(groups) | {r.group for r in rows}
    out = list(rows)
    for start in bucket_starts(req.bucket, req.start, req.end, tz):
        for g in all_groups:
            if (start, g) not in have:
                out.append(AggRow(start, g, None, 0))
    out.sort(key=_sort_key)
    return out


def suppress_small(rows: Sequence[AggRow], k: int) -> tuple[list[AggRow], int]:
    """Drop rows fed by fewer than k distinct sensors; also returns how many were dropped."""
    kept = [r for r in rows if r.sensors >= k]
    return kept, len(rows) - len(kept)


def sort_rows(rows: Iterable[AggRow]) -> list[AggRow]:
    return sorted(rows, key=_sort_key)
