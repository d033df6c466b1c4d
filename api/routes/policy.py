from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.analysis.air import MIN_HOURS
from api.analysis.bins import EMPTYING_DROP
from api.answers import policy
from api.csvio import EXCEL_NL, render_table
from api.deps import ReadAccess, ReadConn, State
from api.policy_tables import policy_table
from api.routes.params import Districts, PolicyFormat, bad_request, csv_style
from api.schemas import AirQualityReport, CleanlinessReport, EnergyReport, MobilityReport, Problem
from api.timebuckets import EARLIEST, LATEST, check_range, is_hour_aligned

router = APIRouter(prefix="/api/v1/policy", tags=["policy"], responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "JSON; or with format=csv / csv-nl the table its dashboard panel shows (docs/api.md)"},
    400: {"model": Problem},
})

MAX_PERIOD = timedelta(days=366)
PFrom = Annotated[
    datetime | None,
    Query(alias="from", description="ISO-8601 with a zone, on a whole hour, inclusive "
                                     "(default: local midnight 7 days before `to`)"),
]
PTo = Annotated[
    datetime | None,
    Query(alias="to", description="ISO-8601 with a zone, on a whole hour, exclusive (default: today's local midnight)"),
]


def _answer(report: BaseModel, fmt: str | None, request: Request) -> Response | None:
    """The report as a CSV download when one is asked for (format=csv / csv-nl, or Accept: text/csv)."""
    style = csv_style(fmt, request)
    if style is None:
        return None
    table = policy_table(report)
    suffix = "-nl" if style == EXCEL_NL else ""
    return Response(
        render_table(table.columns, table.rows, style), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="citysense-{table.name}{suffix}.csv"'},
    )


def period(start: datetime | None, end: datetime | None, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Whole hours (the reports read hourly rollups), at most a year; default the last 7 local days."""
    if end is None:
        today = datetime.now(tz).date()
        end = datetime(today.year, today.month, today.day, tzinfo=tz).astimezone(UTC)
    if start is None:
        if end.tzinfo is None:
            raise HTTPException(400, "'to' needs a time zone, e.g. 2026-11-26T00:00:00+01:00")
        d = end.astimezone(tz).date() - timedelta(days=7)
        start = datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
    try:
        check_range(start, end)
    except ValueError as exc:
        raise bad_request(exc) from None
    if not (is_hour_aligned(start) and is_hour_aligned(end)):
        raise HTTPException(400, "'from' and 'to' must be on whole hours (policy reports read hourly rollups)")
    if end - start > MAX_PERIOD:
        raise HTTPException(400, "a policy period may span at most 366 days")
    return start, end


@router.get(
    "/mobility", response_model=MobilityReport, summary="traffic counts: per day, per hour, peaks, modal split",
    description="""
From the traffic counters' `bikes`, `cars`, `pedestrians` and `heavy_vehicles` (counts per interval),
summed per district (and `all`, the whole city):

* `daily`: counts per local day; `by_hour`: counts per local hour of day over the period, and per day;
* `peak_hours`: per district and mode, the local hour of day with the highest count;
* `totals`: the period's count, the previous period's (the same length, just before `from`), the change
  in % (null when the previous count is 0), and the modal split: each mode's share of all movements.
""",
)
async def mobility(
    request: Request, conn: ReadConn, state: State, access: ReadAccess, start: PFrom = None, end: PTo = None,
    district: Districts = [],  # noqa: B006
    format: PolicyFormat = None,
) -> MobilityReport | Response:
    lo, hi = period(start, end, state.settings.tz)
    rep = await policy.mobility_report(conn, state.settings.tz, lo, hi, district, access.authenticated)
    return _answer(rep, format, request) or rep


@router.get(
    "/cleanliness", response_model=CleanlinessReport,
    summary="waste bins: above the threshold, time to full, overflow hours, collection list",
    description=f"""
From the bins' `fill_level` (%):

* a bin is **above the threshold** when its latest reading at or before `at` is >= `threshold`;
* its **fill rate** is the least-squares slope (numpy.polyfit) of its readings since its last emptying
  (a drop of {EMPTYING_DROP:g} points or more between two readings) within the look-back window; the line reaching
  100 % gives `hours_to_full` and `full_at` (null when the bin is not filling up or has too few readings);
* `collection_list`: every bin, most urgent first: those above the threshold (fullest first), then by
  hours to full (soonest first), then those without a forecast;
* `overflow_hours`: per district, the bin-hours whose highest fill level reached `overflow_level`,
  over the look-back window in whole hours up to and including the hour of `at`.
""",
)
async def cleanliness(
    request: Request, conn: ReadConn, state: State, access: ReadAccess,
    at: Annotated[datetime | None, Query(description="the moment to report on (default: now)")] = None,
    threshold: Annotated[
        float, Query(ge=0, le=100, description="fill level (%) from which a bin needs emptying")
    ] = 80.0,
    lookback_hours: Annotated[int, Query(ge=1, le=24 * 60, description="how far back readings are read")] = 7 * 24,
    overflow_level: Annotated[float, Query(ge=0, le=100, description="fill level (%) counted as overflowing")] = 100.0,
    district: Districts = [],  # noqa: B006
    format: PolicyFormat = None,
) -> CleanlinessReport | Response:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise HTTPException(400, "'at' needs a time zone, e.g. 2026-11-26T10:00:00Z")
    if not EARLIEST + timedelta(days=61) <= when <= LATEST:
        raise HTTPException(400, "'at' must lie between 1970-03-03 and 2200-01-01")
    rep = await policy.cleanliness_report(
        conn, when, threshold, timedelta(hours=lookback_hours), overflow_level, district, access.authenticated
    )
    return _answer(rep, format, request) or rep


@router.get(
    "/energy", response_model=EnergyReport,
    summary="energy: kWh per day, base load, peak demand, weekday/weekend profile",
    description="""
* **kWh** per sensor and per district per local day: the increase of the cumulative `energy_import`
  counter (steps between consecutive readings, a step down being a reset that counts as the new value;
  the reading before `from` is the predecessor of the first one) — as `/api/v1/aggregates?agg=increase`;
* **base load** per sensor: the median over nights of the minimum `power` between 00:00 and 05:00 local
  time (W); per district the sum of its sensors';
* **peak**: per sensor the highest `power` reading and its hour; per district the highest hourly mean
  power summed over its sensors (coincident peak demand) and its hour;
* **profile**: per district the mean summed power per local hour of day, weekdays and weekends apart.

Without an API key (public read), private sensors (households) are left out of every figure.
""",
)
async def energy_(
    request: Request, conn: ReadConn, state: State, access: ReadAccess, start: PFrom = None, end: PTo = None,
    district: Districts = [],  # noqa: B006
    format: PolicyFormat = None,
) -> EnergyReport | Response:
    lo, hi = period(start, end, state.settings.tz)
    try:
        rep = await policy.energy_report(
            conn, state.settings.tz, state.settings.api_max_rows, lo, hi, district, access.authenticated
        )
    except ValueError as exc:
        raise bad_request(exc) from None
    return _answer(rep, format, request) or rep


@router.get(
    "/air-quality", response_model=AirQualityReport,
    summary="air quality: daily means and days above WHO guidelines and EU limit values",
    description=f"""
Daily means (local days) of `pm25`, `pm10` and `no2` per sensor — the mean of its hourly means,
valid with at least `min_hours` hours of data (default {MIN_HOURS}, the 75 % rule of Directive 2008/50/EC) —
and per district (the mean of its sensors' valid daily means). Exceedances: valid days whose mean is
strictly above:

* WHO global air quality guidelines 2021, 24-hour AQG levels: PM2.5 15, PM10 45, NO2 25 µg/m³
  (to be exceeded on at most 3-4 days a year);
* EU Directive 2008/50/EC, annex XI, daily limit value: PM10 50 µg/m³ (at most 35 days a calendar year).
""",
)
async def air_quality(
    request: Request, conn: ReadConn, state: State, access: ReadAccess, start: PFrom = None, end: PTo = None,
    district: Districts = [],  # noqa: B006
    min_hours: Annotated[int, Query(ge=1, le=24, description="hours with data for a valid day")] = MIN_HOURS,
    format: PolicyFormat = None,
) -> AirQualityReport | Response:
    lo, hi = period(start, end, state.settings.tz)
    rep = await policy.air_quality_report(
        conn, state.settings.tz, lo, hi, district, access.authenticated, min_hours
    )
    return _answer(rep, format, request) or rep
