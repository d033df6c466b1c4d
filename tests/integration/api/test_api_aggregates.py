"""Aggregates against the real TimescaleDB: data written through the real ingest path, answers
checked against numpy/plain Python over the raw rows, raw path == hourly rollup path == daily
rollup path, across both DST changes of 2026 in Brussels, a counter reset, late data and
duplicates."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.aggregation import Agg, AggregateRequest, Fill, GroupBy, SensorFilter, Source, TooLarge, daily_days
from api.answers.aggregates import Limits, answer
from api.timebuckets import parse_bucket
from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import (
    ADMIN_KEY,
    BRUSSELS,
    READ_KEY,
    Place,
    Row,
    api_process,
    assert_same,
    dedupe,
    expected,
    register,
    write,
)
from tests.integration.rollup_check import assert_rollups_exact

PLACES = {
    "test:e1": Place("Leuven", 50.879, 4.701),
    "test:e2": Place("Heverlee", 50.863, 4.698, private=True),
    "test:e3": Place("Leuven", 50.881, 4.705),
    "test:a1": Place("Leuven", 50.878, 4.700),
    "test:a2": Place("Kessel-Lo", 50.888, 4.731),
    "test:a3": Place(None),
}
# Around both DST changes: 2026-03-29 (23 h) and 2026-10-25 (25 h).
SPANS = [
    (datetime(2026, 3, 27, 20, tzinfo=UTC), datetime(2026, 3, 31, 3, tzinfo=UTC)),
    (datetime(2026, 10, 23, 21, tzinfo=UTC), datetime(2026, 10, 27, 2, tzinfo=UTC)),
]


def generate(seed: int = 7) -> tuple[list[Row], list[Row]]:
    """(first write, second write): the second holds duplicates and late readings landing inside
    hours already rolled up."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for lo, hi in SPANS:
        for sensor in PLACES:
            t = lo + timedelta(seconds=rng.randrange(0, 900))
            counter = rng.uniform(100, 1000)
            while t < hi:
                if sensor.startswith("test:e"):
                    counter += rng.uniform(0, 0.8)
                    if sensor == "test:e1" and rng.random() < 0.01:
                        counter = rng.uniform(0, 0.3)  # a meter replaced / counter reset
                    rows.append((sensor, "energy_import", t, round(counter, 6)))
                    rows.append((sensor, "power", t, round(rng.uniform(50, 4000), 3)))
                else:
                    rows.append((sensor, "pm25", t, round(rng.lognormvariate(2.3, 0.6), 3)))
                t += timedelta(seconds=rng.randrange(240, 1500), microseconds=rng.randrange(0, 10**6))
    # A guaranteed reset right inside a bucket of the first span.
    reset_at = datetime(2026, 3, 29, 10, 17, 3, tzinfo=UTC)
    rows.append(("test:e1", "energy_import", reset_at, 0.25))
    rng.shuffle(rows)
    late = [r for r in rows if rng.random() < 0.15]
    first = [r for r in rows if r not in set(late)]
    duplicates = rng.sample(first, 400)
    return first, late + duplicates


@pytest.fixture
async def dataset(db: asyncpg.Connection, database_url: str) -> list[Row]:
    first, second = generate()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await write(pool, first)
        await write(pool, second)  # late data and duplicates, through the recount path
    finally:
        await pool.close()
    await register(db, PLACES)
    return dedupe(first + second)


GROUPS = {
    GroupBy.SENSOR: lambda s: s,
    GroupBy.DISTRICT: lambda s: PLACES[s].district,
    GroupBy.KIND: lambda s: "energy" if s.startswith("test:e") else "air",
    GroupBy.NONE: lambda s: "all",
}


def _request(metric: str, agg: Agg, bucket: str, group_by: GroupBy, start: datetime, end: datetime,
             **flt: object) -> AggregateRequest:
    return AggregateRequest(metric, parse_bucket(bucket), agg, group_by, start, end, SensorFilter(**flt))  # type: ignore[arg-type]


async def _answer(conn: asyncpg.Connection, req: AggregateRequest, source: Source) -> dict:
    ans = await answer(conn, req, source, Limits(max_rows=100_000, tz=BRUSSELS))
    assert source is Source.AUTO or ans.source is source
    return {(r.bucket, r.group): (r.value, r.count) for r in ans.rows}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


CASES = [
    # metric, aggs, bucket, range (local midnights of the DST days, or odd hours)
    ("pm25", [Agg.AVG, Agg.MIN, Agg.MAX, Agg.SUM, Agg.COUNT, Agg.FIRST, Agg.LAST], "day", SPANS[0]),
    ("pm25", [Agg.AVG, Agg.COUNT, Agg.FIRST, Agg.LAST], "day", SPANS[1]),
    ("pm25", [Agg.AVG, Agg.MAX], "6h", (datetime(2026, 3, 28, 1, tzinfo=UTC), datetime(2026, 3, 30, 13, tzinfo=UTC))),
    ("pm25", [Agg.SUM], "week", SPANS[1]),
    ("pm25", [Agg.AVG], "month", SPANS[0]),
    ("energy_import", [Agg.INCREASE], "day", SPANS[0]),
    ("energy_import", [Agg.INCREASE], "day", SPANS[1]),
    ("energy_import", [Agg.INCREASE], "1h", (utc(2026, 3, 29, 0), utc(2026, 3, 29, 18))),
    ("energy_import", [Agg.INCREASE, Agg.LAST], "3h", (utc(2026, 10, 24, 22), utc(2026, 10, 26, 1))),
    ("power", [Agg.AVG, Agg.MIN, Agg.MAX], "1h", (utc(2026, 10, 25, 0), utc(2026, 10, 25, 6))),
]


@pytest.mark.parametrize(("metric", "aggs", "bucket", "span"), CASES)
async def test_rollups_and_raw_agree_with_numpy(
    dataset: list[Row], db: asyncpg.Connection, metric: str, aggs: list[Agg], bucket: str,
    span: tuple[datetime, datetime],
) -> None:
    start, end = span
    for agg in aggs:
        for group_by, key in GROUPS.items():
            group_of = {s: key(s) for s in PLACES}
            want = expected(dataset, metric, agg.value, bucket, group_of, start, end)
            assert want, "the case must have data"
            req = _request(metric, agg, bucket, group_by, start, end)
            daily = daily_days(req, BRUSSELS) is not None
            for source in (Source.RAW, Source.ROLLUP, Source.AUTO, *([Source.DAILY] if daily else [])):
                got = await _answer(db, req, source)
                assert_same(got, want, f"{metric} {agg} {bucket} {group_by} {source}")
            auto = await answer(db, req, Source.AUTO, Limits(max_rows=100_000, tz=BRUSSELS))
            assert auto.source is (Source.DAILY if daily else Source.ROLLUP)


async def test_rollups_of_the_dataset_are_exact(dataset: list[Row], db: asyncpg.Connection) -> None:
    """Hourly and daily rollups against numpy over the raw rows: both DST days, late data landing
    inside stored hours and days (recounted), duplicates."""
    assert await assert_rollups_exact(db) > 100
    days = {r["day"] for r in await db.fetch("SELECT DISTINCT day FROM readings_daily")}
    lengths = {(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(sorted(days)) if b - a < timedelta(days=2)}
    assert lengths == {23.0, 24.0, 25.0}


def local(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=BRUSSELS).astimezone(UTC)


# Ranges for the three paths: whole local days (daily rollups only), partial first and last days
# (daily + hourly), a long range of weeks and months across both DST changes.
DAILY_RANGES = [
    (local(2026, 3, 28), local(2026, 3, 31)),
    (local(2026, 10, 24), local(2026, 10, 27)),
    (local(2026, 3, 28, 5), local(2026, 3, 30, 13)),
    (local(2026, 10, 23, 23), local(2026, 10, 26, 2)),
    (local(2026, 3, 1), local(2026, 11, 1)),
]


@pytest.mark.parametrize("bucket", ["day", "week", "month"])
@pytest.mark.parametrize(("start", "end"), DAILY_RANGES)
async def test_daily_hourly_and_raw_paths_agree(
    dataset: list[Row], db: asyncpg.Connection, bucket: str, start: datetime, end: datetime
) -> None:
    group_of = {s: PLACES[s].district for s in PLACES}
    for metric, aggs in (("pm25", [Agg.AVG, Agg.MIN, Agg.MAX, Agg.SUM, Agg.COUNT, Agg.FIRST, Agg.LAST]),
                         ("energy_import", [Agg.INCREASE, Agg.FIRST, Agg.LAST]),
                         ("power", [Agg.AVG, Agg.COUNT])):
        for agg in aggs:
            req = _request(metric, agg, bucket, GroupBy.DISTRICT, start, end)
            want = expected(dataset, metric, agg.value, bucket, group_of, start, end)
            assert want, "the case must have data"
            answers = {source: await _answer(db, req, source) for source in (Source.DAILY, Source.ROLLUP, Source.RAW)}
            for source, got in answers.items():
                assert_same(got, want, f"{metric} {agg} {bucket} {start}..{end} {source}")
            assert set(answers[Source.DAILY]) == set(answers[Source.RAW])


async def test_dst_days_have_23_and_25_hours(dataset: list[Row], db: asyncpg.Connection) -> None:
    for (start, end), hours in zip(SPANS, (23, 25), strict=True):
        req = _request("pm25", Agg.COUNT, "day", GroupBy.NONE, start, end)
        rows = sorted(await _answer(db, req, Source.ROLLUP))
        buckets = [b for b, _ in rows]
        lengths = {(b2 - b1) / timedelta(hours=1) for b1, b2 in itertools.pairwise(buckets)}
        assert hours in lengths
        assert lengths <= {23.0, 24.0, 25.0}
        assert all(b.astimezone(BRUSSELS).hour == 0 for b in buckets)


async def test_percentiles_and_unaligned_ranges_use_raw_rows(dataset: list[Row], db: asyncpg.Connection) -> None:
    start, end = datetime(2026, 3, 28, 0, 20, tzinfo=UTC), datetime(2026, 3, 30, 7, 45, tzinfo=UTC)
    for agg, bucket in ((Agg.P50, "day"), (Agg.P95, "1h"), (Agg.AVG, "day"), (Agg.INCREASE, "15m")):
        metric = "energy_import" if agg is Agg.INCREASE else "pm25"
        req = _request(metric, agg, bucket, GroupBy.DISTRICT, start, end)
        ans = await answer(db, req, Source.AUTO, Limits(max_rows=100_000, tz=BRUSSELS))
        assert ans.source is Source.RAW
        group_of = {s: PLACES[s].district for s in PLACES}
        got = {(r.bucket, r.group): (r.value, r.count) for r in ans.rows}
        assert_same(got, expected(dataset, metric, agg.value, bucket, group_of, start, end), f"{agg} {bucket}")
        with pytest.raises(ValueError, match="source=rollup"):
            await answer(db, req, Source.ROLLUP, Limits(max_rows=100_000, tz=BRUSSELS))


async def test_increase_adds_up_over_adjacent_ranges(dataset: list[Row], db: asyncpg.Connection) -> None:
    """The predecessor rule: the increase over [a, c) equals that over [a, b) plus [b, c)."""
    a, b, c = (datetime(2026, 3, 28, 5, tzinfo=UTC), datetime(2026, 3, 29, 10, 30, tzinfo=UTC),
               datetime(2026, 3, 30, 23, tzinfo=UTC))
    total = 0.0
    for lo, hi in ((a, b), (b, c), (a, c)):
        req = _request("energy_import", Agg.INCREASE, "366d", GroupBy.SENSOR, lo, hi, sensors=("test:e1",))
        rows = await _answer(db, req, Source.RAW)
        value = sum(v for v, _ in rows.values())
        total = value - total if (lo, hi) == (a, c) else total + value
    assert abs(total) < 1e-6


async def test_filters_fill_and_limits(dataset: list[Row], db: asyncpg.Connection) -> None:
    start, end = SPANS[0]
    limits = Limits(max_rows=100_000, tz=BRUSSELS)
    # bbox around Kessel-Lo only, district filter, sensor ids, private excluded
    req = _request("pm25", Agg.COUNT, "day", GroupBy.SENSOR, start, end, bbox=None, sensors=("test:a1", "test:a2"))
    assert {g for _, g in await _answer(db, req, Source.AUTO)} == {"test:a1", "test:a2"}
    from api.aggregation import BBox
    req = _request("pm25", Agg.COUNT, "day", GroupBy.SENSOR, start, end, bbox=BBox(4.72, 50.88, 4.74, 50.89))
    assert {g for _, g in await _answer(db, req, Source.AUTO)} == {"test:a2"}
    req = _request("energy_import", Agg.INCREASE, "day", GroupBy.SENSOR, start, end, include_private=False)
    assert "test:e2" not in {g for _, g in await _answer(db, req, Source.AUTO)}
    # gap filling: a range that starts a day before the data
    req = AggregateRequest("pm25", parse_bucket("day"), Agg.AVG, GroupBy.NONE, start - timedelta(days=2), end,
                           SensorFilter(), Fill.NULL)
    rows = (await answer(db, req, Source.AUTO, limits)).rows
    assert [r.bucket for r in rows] == sorted({r.bucket for r in rows})
    assert rows[0].value is None
    assert rows[0].count == 0
    assert rows[-1].value is not None
    assert (rows[1].bucket - rows[0].bucket) == timedelta(days=1)
    # too many rows
    req = _request("pm25", Agg.AVG, "1m", GroupBy.SENSOR, start, end)
    with pytest.raises(TooLarge, match=r"4740 bucket\(s\) x 6 group\(s\)"):
        await answer(db, req, Source.AUTO, Limits(max_rows=10_000, tz=BRUSSELS))


# Over HTTP: validation, CSV, routing header, small-group suppression on the open endpoint --------

@pytest.fixture
def http_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path):
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_API_OPEN_MIN_SENSORS="2")
    yield server
    server.stop()


async def test_http_aggregates(dataset: list[Row], http_api) -> None:
    start, end = SPANS[0]
    base = {"metric": "pm25", "bucket": "day", "agg": "avg", "group_by": "district",
            "from": start.isoformat(), "to": end.isoformat()}
    async with httpx.AsyncClient(base_url=http_api.url, headers={"X-API-Key": READ_KEY}) as http:
        r = await http.get("/api/v1/aggregates", params=base)
        assert r.status_code == 200, r.text
        assert r.headers["x-citysense-source"] == "daily"
        group_of = {s: PLACES[s].district for s in PLACES}
        want = expected(dataset, "pm25", "avg", "day", group_of, start, end)

        def points(resp: httpx.Response) -> dict:
            return {(datetime.fromisoformat(d["bucket"]).astimezone(UTC), d["group"]): (d["value"], d["count"])
                    for d in resp.json()["data"]}

        assert_same(points(r), want, "http")
        for source in ("rollup", "daily", "raw"):
            forced = await http.get("/api/v1/aggregates", params={**base, "source": source})
            assert forced.headers["x-citysense-source"] == source
            assert_same(points(forced), want, f"http source={source}")
        r6 = await http.get("/api/v1/aggregates", params={**base, "bucket": "6h"})
        assert r6.headers["x-citysense-source"] == "rollup"
        assert r.json()["data"][0]["bucket"].endswith("+01:00")  # labelled in Brussels time
        r = await http.get("/api/v1/aggregates", params={**base, "agg": "p95"})
        assert r.headers["x-citysense-source"] == "raw"
        csv = await http.get("/api/v1/aggregates", params=base, headers={"Accept": "text/csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().split("\n")
        assert lines[0] == "bucket,group,value,count"
        assert len(lines) == len(want) + 1
        assert (await http.get("/api/v1/aggregates", params={**base, "format": "csv"})).text == csv.text
        for bad, needle in [
            ({"metric": "smell"}, "unknown metric"),
            ({"bucket": "7 parsecs"}, "bad bucket"),
            ({"agg": "increase"}, "cumulative"),
            ({"to": start.isoformat()}, "after"),
            ({"from": "2026-03-28T00:00:00"}, "time zone"),
            ({"bbox": "4,50,3,51"}, "bbox"),
            ({"bucket": "1m", "group_by": "sensor", "from": "2020-01-01T00:00:00Z"}, "too many rows"),
            ({"source": "rollup", "agg": "p50"}, "source=rollup"),
            ({"source": "daily", "bucket": "6h"}, "source=daily"),
        ]:
            r = await http.get("/api/v1/aggregates", params={**base, **bad})
            assert r.status_code == 400, (bad, r.text)
            assert needle in r.json()["detail"], (bad, r.text)
        assert (await http.get("/api/v1/aggregates", params={**base, "agg": "median"})).status_code == 422
        assert (await http.get("/api/v1/aggregates", params={**base, "district": "Brussel"})).status_code == 422

        # Open data: k = 2 here. Every district has one air sensor: all suppressed; the city has 3.
        r = await http.get("/api/v1/open/aggregates", params=base, headers={"X-API-Key": ""})
        body = r.json()
        assert r.status_code == 200
        assert body["min_sensors"] == 2
        assert body["data"] == []
        assert body["suppressed"] == len(want)
        r = await http.get("/api/v1/open/aggregates", params={**base, "group_by": "none"})
        assert r.json()["suppressed"] == 0
        assert {d["group"] for d in r.json()["data"]} == {"all"}
        # per sensor: public sensors only, never the private household meter
        r = await http.get("/api/v1/open/aggregates", params={**base, "metric": "energy_import", "agg": "increase",
                                                              "group_by": "sensor"})
        assert {d["group"] for d in r.json()["data"]} == {"test:e1", "test:e3"}
        # by district: Heverlee is one private meter: suppressed
        r = await http.get("/api/v1/open/aggregates", params={**base, "metric": "energy_import", "agg": "increase"})
        assert {d["group"] for d in r.json()["data"]} == {"Leuven"}
        # the open endpoint takes no sensor filter and no raw data
        r = await http.get("/api/v1/open/aggregates", params={**base, "sensor": "test:e2", "group_by": "none",
                                                              "metric": "energy_import", "agg": "increase"})
        assert {d["group"] for d in r.json()["data"]} == {"all"}
        assert all(d["count"] > 0 for d in r.json()["data"])
        assert (await http.get("/api/v1/aggregates", params=base, headers={"X-API-Key": ADMIN_KEY})).status_code == 200
