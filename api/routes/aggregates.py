from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.aggregation import Agg, Fill, GroupBy, SensorFilter, Source
from api.answers.aggregates import AggregateAnswer, Limits, answer
from api.csvio import render_aggregates
from api.deps import OpenAccess, ReadAccess, ReadConn, State
from api.routes.params import (
    METRIC_HELP,
    BBoxText,
    Districts,
    Format,
    From,
    Kinds,
    SensorIds,
    To,
    build_request,
    to_bbox,
    wants_csv,
)
from api.schemas import AggregatePoint, AggregateResult, OpenAggregateResult, Problem

router = APIRouter(prefix="/api/v1", tags=["aggregates"])

Metric = Annotated[str, Query(description=METRIC_HELP, examples=["pm25"])]
BucketText = Annotated[
    str,
    Query(description="a fixed interval aligned to 2000-01-03T00:00Z (`90s`, `5m`, `15m`, `1h`, `6h`, `1d`, `1w`) "
                      "or a calendar bucket in CITYSENSE_TIMEZONE: `day` (23 or 25 h on DST days), `week` "
                      "(from Monday), `month`"),
]
AggParam = Annotated[
    Agg,
    Query(description="avg, min, max, sum, count, first, last, p50/p95 (exact, continuous percentile of the raw "
                      "values), or increase: for cumulative counters, what accrued in the bucket (see below)"),
]
GroupByParam = Annotated[GroupBy, Query(description="one row per bucket and sensor, district, kind, or none")]
FillParam = Annotated[Fill, Query(description="`null`: buckets without data appear with value null and count 0")]
CoverageParam = Annotated[
    bool,
    Query(description="add each row's `coverage`: received ÷ expected readings (docs/fleet-health.md, coverage)"),
]
SourceParam = Annotated[
    Source,
    Query(description="debug: force raw readings (`raw`), hourly rollups (`rollup`) or daily rollups (`daily`: "
                      "day/week/month buckets, at least one whole local day in range); `auto` picks the daily, "
                      "else the hourly rollups whenever they give the same answer as raw readings"),
]

_DESCRIPTION = """
One row per bucket and group, over the readings of `metric` with `from` <= time < `to`.

**Values.** `avg`, `min`, `max`, `sum`, `count`, `first`, `last` over the readings in the bucket
(`first`/`last`: the earliest/latest reading, ties between sensors broken by sensor id);
`p50`, `p95`: exact percentiles (linear interpolation) of the raw values.
`increase` (cumulative counters only: energy_import, energy_export, gas_volume): the sum of the
steps between consecutive readings of each sensor whose later reading lies in the bucket; a step
down is a counter reset and counts as the new value (what accrued since the reset). The last
reading before `from` is the predecessor of the first one in range, so the increases of adjacent
ranges add up. With a grouping other than `sensor`, the sensors' increases are summed.

**Routing.** Answered from the hourly rollups when the bucket is a whole number of hours (or
day/week/month), `from` and `to` are on whole hours and `agg` is not a percentile; from raw
readings otherwise. A day/week/month bucket is read from the daily rollups for every whole
local day of the range (and from the hourly ones for the hours of a partial first or last day)
when CITYSENSE_TIMEZONE is Europe/Brussels, the zone the daily rollups are kept in. All give
the same answer (up to float summation order); the response header `X-Citysense-Source` says
which was used: `daily`, `rollup` (hourly) or `raw`.

**Size.** Buckets x groups may not exceed CITYSENSE_API_MAX_ROWS (400 with the numbers).

**Coverage.** With `coverage=true` each row also carries `coverage`: the readings received in
the bucket ÷ those expected, each sensor of the group that reports the metric owing one per its
learned interval (the median gap of its readings over the range's hours, as fleet health learns
it) from its first reading on. 1 is complete; 0.6 means 40 % of the readings are missing.

**Privacy.** Without an API key (CITYSENSE_PUBLIC_READ=true), private sensors are left out.
"""


def _respond(ans: AggregateAnswer, state: State, csv: bool, coverage: bool) -> AggregateResult | Response:
    tz = state.settings.tz
    points = [(r.bucket.astimezone(tz), r.group, r.value, r.count) for r in ans.rows]
    headers = {"X-Citysense-Source": ans.source.value}
    if csv:
        return Response(render_aggregates(points, [r.coverage for r in ans.rows] if coverage else None),
                        media_type="text/csv; charset=utf-8", headers=headers)
    if coverage:
        # Set explicitly, so it is written even when null (the routes leave unset fields out).
        return AggregateResult(data=[AggregatePoint(bucket=b, group=g, value=v, count=c, coverage=r.coverage)
                                     for (b, g, v, c), r in zip(points, ans.rows, strict=True)])
    return AggregateResult(data=[AggregatePoint(bucket=b, group=g, value=v, count=c) for b, g, v, c in points])


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"},
    400: {"model": Problem, "description": "a parameter that makes no sense, or an answer too large"},
}


@router.get(
    "/aggregates",
    response_model=AggregateResult,
    response_model_exclude_unset=True,
    responses=_RESPONSES,
    summary="a metric aggregated per time bucket and group",
    description=_DESCRIPTION,
)
async def aggregates(
    request: Request,
    response: Response,
    access: ReadAccess,
    state: State,
    conn: ReadConn,
    metric: Metric,
    start: From = None,
    end: To = None,
    bucket: BucketText = "1h",
    agg: AggParam = Agg.AVG,
    group_by: GroupByParam = GroupBy.NONE,
    district: Districts = [],  # noqa: B006 - FastAPI copies defaults
    kind: Kinds = [],  # noqa: B006
    sensor: SensorIds = [],  # noqa: B006
    bbox: BBoxText = None,
    fill: FillParam = Fill.NONE,
    format: Format = None,
    source: SourceParam = Source.AUTO,
    coverage: CoverageParam = False,
) -> AggregateResult | Response:
    flt = SensorFilter(
        districts=tuple(district), kinds=tuple(k.value for k in kind), sensors=tuple(sensor), bbox=to_bbox(bbox),
        include_private=access.authenticated,
    )
    req = build_request(metric, bucket, agg, group_by, start, end, flt, fill)
    limits = Limits(max_rows=state.settings.api_max_rows, tz=state.settings.tz, coverage=coverage)
    try:
        ans = await answer(conn, req, source, limits)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    response.headers["X-Citysense-Source"] = ans.source.value
    return _respond(ans, state, wants_csv(format, request), coverage)


_OPEN_DESCRIPTION = """
Open data, for anyone, no key needed: the same aggregates as `/api/v1/aggregates`, but
never raw readings and never what could single out a household:

* `group_by=sensor` covers non-private sensors only;
* every other row is published only when at least k distinct sensors fed it
  (k = CITYSENSE_API_OPEN_MIN_SENSORS, default 3); `suppressed` counts the rows left out.

`coverage=true` adds each row's `coverage` (received ÷ expected readings), as on
`/api/v1/aggregates`, so re-users can judge how complete a figure is.
"""


@router.get(
    "/open/aggregates",
    response_model=OpenAggregateResult,
    response_model_exclude_unset=True,
    responses=_RESPONSES,
    summary="open data: aggregates with small groups suppressed",
    description=_OPEN_DESCRIPTION,
    tags=["open data"],
)
async def open_aggregates(
    request: Request,
    response: Response,
    access: OpenAccess,
    state: State,
    conn: ReadConn,
    metric: Metric,
    start: From = None,
    end: To = None,
    bucket: BucketText = "1h",
    agg: AggParam = Agg.AVG,
    group_by: GroupByParam = GroupBy.NONE,
    district: Districts = [],  # noqa: B006
    kind: Kinds = [],  # noqa: B006
    bbox: BBoxText = None,
    fill: FillParam = Fill.NONE,
    format: Format = None,
    coverage: CoverageParam = False,
) -> OpenAggregateResult | Response:
    flt = SensorFilter(
        districts=tuple(district), kinds=tuple(k.value for k in kind), bbox=to_bbox(bbox), include_private=True
    )
    req = build_request(metric, bucket, agg, group_by, start, end, flt, fill)
    k = state.settings.api_open_min_sensors
    limits = Limits(
        max_rows=state.settings.api_max_rows, tz=state.settings.tz,
        min_sensors=None if group_by is GroupBy.SENSOR else k, sensor_groups_public_only=True, coverage=coverage,
    )
    try:
        ans = await answer(conn, req, Source.AUTO, limits)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    response.headers["X-Citysense-Source"] = ans.source.value
    out = _respond(ans, state, wants_csv(format, request), coverage)
    if isinstance(out, Response):
        return out
    return OpenAggregateResult(data=out.data, suppressed=ans.suppressed, min_sensors=k)
