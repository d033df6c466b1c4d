"""Query parameters shared by several routes, parsed into the pure modules' values (400 on nonsense)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import HTTPException, Query, Request

from api.aggregation import (
    Agg,
    AggregateRequest,
    BBox,
    Fill,
    GroupBy,
    SensorFilter,
    check_metric_agg,
    parse_bbox,
)
from api.csvio import EXCEL_NL, PLAIN, CsvStyle
from api.timebuckets import check_range, parse_bucket
from models.districts import District
from models.metrics import METRICS, Kind

METRIC_HELP = "a canonical metric (docs/interface.md), one of: " + ", ".join(METRICS)

From = Annotated[
    datetime | None,
    Query(alias="from", description="ISO-8601 with a zone, inclusive (default: `to` minus 24 h)"),
]
To = Annotated[
    datetime | None,
    Query(alias="to", description="ISO-8601 with a zone, exclusive (default: the next whole hour)"),
]
Districts = Annotated[list[District], Query(alias="district", description="only sensors in this district (repeatable)")]
Kinds = Annotated[list[Kind], Query(alias="kind", description="only sensors of this kind (repeatable)")]
SensorIds = Annotated[list[str], Query(alias="sensor", description="only these sensor ids (repeatable)")]
BBoxText = Annotated[
    str | None,
    Query(description="only sensors inside minlon,minlat,maxlon,maxlat (WGS84 degrees)",
          examples=["4.68,50.86,4.73,50.89"]),
]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="json (default) or csv; `Accept: text/csv` also selects CSV"),
]

PolicyFormat = Annotated[
    Literal["json", "csv", "csv-nl"] | None,
    Query(description="json (default); csv (`,` and decimal points, UTF-8); csv-nl, for Excel in a Dutch/Belgian "
                      "locale (`;` and decimal commas, UTF-8 with a byte-order mark); `Accept: text/csv` also "
                      "selects csv"),
]


def bad_request(exc: ValueError) -> HTTPException:
    return HTTPException(400, str(exc))


def default_range(start: datetime | None, end: datetime | None, span: timedelta) -> tuple[datetime, datetime]:
    """Fill in missing ends; the defaults are whole hours, so they can be served from rollups."""
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if start is None:
        if end.tzinfo is None:
            raise HTTPException(400, "'to' needs a time zone, e.g. 2026-11-26T10:00:00Z or +01:00")
        start = end - span
    try:
        check_range(start, end)
    except ValueError as exc:
        raise bad_request(exc) from None
    return start, end


def to_bbox(text: str | None) -> BBox | None:
    if text is None:
        return None
    try:
        return parse_bbox(text)
    except ValueError as exc:
        raise bad_request(exc) from None


def build_request(
    metric: str, bucket: str, agg: Agg, group_by: GroupBy, start: datetime | None, end: datetime | None,
    flt: SensorFilter, fill: Fill,
) -> AggregateRequest:
    try:
        check_metric_agg(metric, agg)
        parsed_bucket = parse_bucket(bucket)
    except ValueError as exc:
        raise bad_request(exc) from None
    lo, hi = default_range(start, end, timedelta(hours=24))
    return AggregateRequest(metric, parsed_bucket, agg, group_by, lo, hi, flt, fill)


def csv_style(fmt: str | None, request: Request) -> CsvStyle | None:
    """The CSV a policy report is asked for in, None for JSON."""
    if fmt == "csv-nl":
        return EXCEL_NL
    return PLAIN if wants_csv(fmt, request) else None


def wants_csv(fmt: str | None, request: Request) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept
