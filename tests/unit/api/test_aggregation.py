from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.aggregation import (
    ALL_GROUP,
    Agg,
    AggregateRequest,
    AggRow,
    BBox,
    Fill,
    GroupBy,
    Route,
    SensorFilter,
    Source,
    TooLarge,
    check_metric_agg,
    check_size,
    choose_route,
    daily_days,
    fill_gaps,
    group_key,
    parse_bbox,
    suppress_small,
)
from api.timebuckets import parse_bucket

BXL = ZoneInfo("Europe/Brussels")
A = datetime(2026, 3, 27, 23, tzinfo=UTC)


def req(agg: Agg = Agg.AVG, bucket: str = "day", start: datetime = A, days: float = 3,
        fill: Fill = Fill.NONE) -> AggregateRequest:
    return AggregateRequest("pm25", parse_bucket(bucket), agg, GroupBy.DISTRICT, start,
                            start + timedelta(days=days), SensorFilter(), fill)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# A is local midnight of Saturday 28 March 2026; the 29th has 23 hours (CET -> CEST at 02:00).
MIDNIGHT_29, MIDNIGHT_30, MIDNIGHT_31 = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), utc(2026, 3, 30, 22)


@pytest.mark.parametrize(
    ("agg", "bucket", "start", "requested", "source"),
    [
        (Agg.AVG, "day", A, Source.AUTO, Source.DAILY),
        (Agg.INCREASE, "day", A, Source.AUTO, Source.DAILY),
        (Agg.LAST, "week", A, Source.AUTO, Source.DAILY),
        (Agg.FIRST, "month", A, Source.AUTO, Source.DAILY),
        (Agg.INCREASE, "6h", A, Source.AUTO, Source.ROLLUP),
        (Agg.AVG, "1d", A, Source.AUTO, Source.ROLLUP),  # fixed 1d: UTC days, not local ones
        (Agg.AVG, "24h", A, Source.AUTO, Source.ROLLUP),
        (Agg.P95, "day", A, Source.AUTO, Source.RAW),
        (Agg.AVG, "15m", A, Source.AUTO, Source.RAW),
        (Agg.AVG, "90m", A, Source.AUTO, Source.RAW),
        (Agg.AVG, "day", A + timedelta(minutes=1), Source.AUTO, Source.RAW),
        (Agg.AVG, "day", A, Source.RAW, Source.RAW),
        (Agg.AVG, "day", A, Source.ROLLUP, Source.ROLLUP),
        (Agg.AVG, "day", A, Source.DAILY, Source.DAILY),
        (Agg.AVG, "day", A + timedelta(hours=5), Source.AUTO, Source.DAILY),
    ],
)
def test_choose_route(agg: Agg, bucket: str, start: datetime, requested: Source, source: Source) -> None:
    route = choose_route(req(agg, bucket, start), requested, BXL)
    assert route.source is source
    assert (route.days is not None) == (source is Source.DAILY)


@pytest.mark.parametrize(
    ("start", "days", "span"),
    [
        (A, 3, (A, MIDNIGHT_31)),  # ends at 01:00 on the 31st: the last hour comes from the hourly rollups
        (A, 2 + 23 / 24, (A, MIDNIGHT_31)),  # three whole local days, the middle one of 23 hours
        (A + timedelta(hours=1), 2, (MIDNIGHT_29, MIDNIGHT_30)),  # the 23-hour day between two partial ones
        (A + timedelta(hours=1), 1, None),  # from 01:00 to 01:00: no whole local day
        (utc(2026, 10, 24, 22), 2, (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))),  # the 25-hour day
    ],
)
def test_daily_days(start: datetime, days: float, span: tuple[datetime, datetime] | None) -> None:
    assert daily_days(req(Agg.AVG, "day", start, days), BXL) == span


def test_daily_rollups_only_in_their_own_zone() -> None:
    # Amsterdam has had Brussels' offsets since 1977, but the daily table is kept in Brussels days.
    assert choose_route(req(), Source.AUTO, ZoneInfo("Europe/Amsterdam")).source is Source.ROLLUP
    assert daily_days(req(), ZoneInfo("Europe/Amsterdam")) is None
    assert daily_days(req(), ZoneInfo("Europe/Amsterdam"), daily_zone="Europe/Amsterdam") is not None
    assert choose_route(req(), Source.AUTO, BXL) == Route(Source.DAILY, (A, MIDNIGHT_31))


def test_rollup_refused_when_it_cannot_be_exact() -> None:
    with pytest.raises(ValueError, match="source=rollup"):
        choose_route(req(Agg.P50), Source.ROLLUP, BXL)


@pytest.mark.parametrize(
    ("r", "tz"),
    [
        (req(Agg.P50), BXL),
        (req(bucket="6h"), BXL),
        (req(bucket="1d"), BXL),
        (req(start=A + timedelta(hours=1), days=1), BXL),  # no whole local day
        (req(start=A + timedelta(minutes=30)), BXL),
        (req(), ZoneInfo("UTC")),
    ],
)
def test_daily_refused_when_it_cannot_be_used(r: AggregateRequest, tz: ZoneInfo) -> None:
    with pytest.raises(ValueError, match="source=daily"):
        choose_route(r, Source.DAILY, tz)


def test_check_metric_agg() -> None:
    check_metric_agg("energy_import", Agg.INCREASE)
    with pytest.raises(ValueError, match="cumulative"):
        check_metric_agg("power", Agg.INCREASE)
    with pytest.raises(ValueError, match="unknown metric"):
        check_metric_agg("smell", Agg.AVG)


def test_check_size() -> None:
    # 3 x 24 h from local midnight reach into a 4th local day: 29 March has 23 hours.
    assert check_size(req(days=3), 5, 100, BXL) == 4
    with pytest.raises(TooLarge, match=r"72 bucket\(s\) x 5 group\(s\) = 360 > 100"):
        check_size(req(bucket="1h", days=3), 5, 100, BXL)


@pytest.mark.parametrize(
    ("text", "bbox"),
    [("4.6,50.8,4.8,50.9", BBox(4.6, 50.8, 4.8, 50.9)), ("-180,-90,180,90", BBox(-180, -90, 180, 90))],
)
def test_parse_bbox(text: str, bbox: BBox) -> None:
    assert parse_bbox(text) == bbox


@pytest.mark.parametrize("text", ["", "1,2,3", "a,b,c,d", "4.8,50,4.6,51", "0,91,1,92", "nan,0,1,1", "1,2,3,4,5"])
def test_parse_bbox_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="bbox"):
        parse_bbox(text)


def test_group_key() -> None:
    assert group_key(GroupBy.SENSOR, "a:1", "air", "Leuven") == "a:1"
    assert group_key(GroupBy.DISTRICT, "a:1", "air", None) is None
    assert group_key(GroupBy.KIND, "a:1", "air", "Leuven") == "air"
    assert group_key(GroupBy.NONE, "a:1", "air", "Leuven") == ALL_GROUP


def test_fill_gaps_over_dst() -> None:
    r = req(days=3, fill=Fill.NULL)
    day2 = datetime(2026, 3, 28, 23, tzinfo=UTC)  # the 23-hour day starts at local midnight
    rows = [AggRow(day2, "Leuven", 1.0, 3), AggRow(A, "Heverlee", 2.0, 1)]
    filled = fill_gaps(rows, r, BXL, [])
    assert [(x.bucket.hour, x.group, x.value, x.count) for x in filled] == [
        (23, "Heverlee", 2.0, 1), (23, "Leuven", None, 0),
        (23, "Heverlee", None, 0), (23, "Leuven", 1.0, 3),
        (22, "Heverlee", None, 0), (22, "Leuven", None, 0),
        (22, "Heverlee", None, 0), (22, "Leuven", None, 0),
    ]
    assert len(fill_gaps([], r, BXL, [ALL_GROUP])) == 4


def test_suppress_small() -> None:
    rows = [AggRow(A, "x", 1.0, 10, sensors=1), AggRow(A, "y", 1.0, 10, sensors=3)]
    kept, dropped = suppress_small(rows, 3)
    assert [r.group for r in kept] == ["y"]
    assert dropped == 1
