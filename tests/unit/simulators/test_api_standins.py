"""The simulated outside APIs answer in the real APIs' documented shapes and refuse as they do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
from starlette.applications import Starlette

from simulators.api_sources import AreaSource, TelraamSource
from simulators.api_standins import AreaStandIn, TelraamStandIn
from simulators.fleet import load_fleet

FLEET = load_fleet()
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


def _body(segment: str, start: datetime, end: datetime) -> bytes:
    return orjson.dumps({"level": "segments", "format": "per-hour", "id": segment,
                         "time_start": start.strftime("%Y-%m-%d %H:%M:%SZ"),
                         "time_end": end.strftime("%Y-%m-%d %H:%M:%SZ")})


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")


def _telraam(**kw: object) -> tuple[TelraamStandIn, httpx.AsyncClient]:
    standin = TelraamStandIn(TelraamSource(FLEET).rows, clock=lambda: NOW, **kw)  # type: ignore[arg-type]
    return standin, _client(standin.app())


async def test_telraam_answers_complete_hours_of_the_window_only() -> None:
    _, client = _telraam()
    start = NOW.replace(minute=0) - timedelta(hours=5)
    answer = await client.post("/v1/reports/traffic", content=_body("348917", start, NOW + timedelta(hours=3)))
    assert answer.status_code == 200
    report = answer.json()["report"]
    # 09:00..13:00 are over at 14:30; the hour being counted is not in the answer.
    assert [r["date"] for r in report] == [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:00:00.000Z")
                                           for i in range(5)]
    assert {"segment_id", "date", "interval", "uptime", "heavy", "car", "bike", "pedestrian", "v85"} <= report[0].keys()
    assert report[0]["segment_id"] == 348917


async def test_telraam_refuses_a_wrong_key_a_long_window_and_calls_over_the_quota() -> None:
    _, client = _telraam(api_key="k")
    good = _body("348917", NOW - timedelta(hours=2), NOW)
    assert (await client.post("/v1/reports/traffic", content=good, headers={"X-Api-Key": "wrong"})).status_code == 403
    _, client = _telraam(max_window=timedelta(days=1))
    long = _body("348917", NOW - timedelta(days=2), NOW)
    assert (await client.post("/v1/reports/traffic", content=long)).status_code == 400
    _, client = _telraam(daily_limit=1)
    assert (await client.post("/v1/reports/traffic", content=good)).status_code == 200
    refused = await client.post("/v1/reports/traffic", content=good)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 9 * 3600 + 30 * 60 + 1  # to the next UTC midnight


async def test_unknown_segment_has_an_empty_report() -> None:
    _, client = _telraam()
    answer = await client.post("/v1/reports/traffic", content=_body("1", NOW - timedelta(hours=3), NOW))
    assert answer.json()["report"] == []


async def test_area_answers_the_last_five_minutes_of_the_stations_in_the_circle() -> None:
    standin = AreaStandIn(AreaSource(FLEET).records, clock=lambda: NOW)
    client = _client(standin.app())
    recs = (await client.get("/airrohr/v1/filter/area=50.879,4.701,6")).json()
    assert recs
    for rec in recs:
        t = datetime.strptime(rec["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert NOW - timedelta(minutes=5) < t <= NOW
        assert {"id", "location", "sensor", "sensordatavalues"} <= rec.keys()
    assert any(r["location"]["indoor"] == 1 for r in recs)
    # A small circle far away holds nothing.
    assert (await client.get("/airrohr/v1/filter/area=51.2,3.2,1")).json() == []
    assert (await client.get("/airrohr/v1/filter/area=oops")).status_code == 400
