"""The SensorThings API against a real API process and TimescaleDB: read by frost-sta-client (a client
nobody here wrote) and compared with the database; paging and $filter against numpy over the raw
rows; bad options get a 400 with the reason; private sensors are invisible without a key."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import frost_sta_client as fsc
import httpx
import numpy as np
import pytest

from api.queries.sensorthings import observations_sql
from api.sensorthings.filtering import And, Compare, Op
from citysense.endpoints import MqttEndpoint
from models.metrics import METRICS
from tests.integration.api.support import READ_KEY, Place, Row, api_process, dedupe, store
from tests.integration.support import ApiProcess

PLACES = {
    "sta:a1": Place("Leuven", 50.879, 4.701, kind="air"),
    "sta:a2": Place("Heverlee", 50.863, 4.698, kind="air"),
    "sta:a3": Place("Leuven", 50.881, 4.705, kind="air"),
    "sta:e1": Place("Kessel-Lo", 50.888, 4.731, private=True, kind="energy"),
    "sta:x1": Place(None, kind="air"),
    "sta:w1": Place("Wilsele", 50.90, 4.69, kind="air"),  # 12 days: pages read in several windows
}
START = datetime(2026, 11, 20, 22, tzinfo=UTC)
END = datetime(2026, 11, 22, 3, tzinfo=UTC)


def generate(seed: int = 17) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    t = START - timedelta(days=10)
    while t < END:
        rows.append(("sta:w1", "pm25", t, round(rng.uniform(0, 100), 2)))
        t += timedelta(minutes=5)
    for sensor in PLACES:
        if sensor == "sta:w1":
            continue
        metrics = ["power"] if sensor == "sta:e1" else ["pm25", "temperature"]
        for metric in metrics:
            t = START + timedelta(seconds=rng.randrange(0, 300))
            while t < END:
                value = round(rng.uniform(-5, 25) if metric == "temperature" else rng.lognormvariate(2.3, 0.6), 3)
                rows.append((sensor, metric, t, value))
                t += timedelta(seconds=rng.randrange(60, 420), microseconds=rng.randrange(0, 10**6))
    return rows


@pytest.fixture
async def dataset(db: asyncpg.Connection, database_url: str) -> list[Row]:
    rows = generate()
    await store(database_url, db, rows, PLACES)
    await db.execute("UPDATE sensors SET model = 'SDS011' WHERE id LIKE 'sta:a%'")
    return dedupe(rows)


@pytest.fixture
def api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> Iterator[ApiProcess]:
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true",
                         CITYSENSE_STA_MAX_TOP="150", CITYSENSE_API_PUBLIC_RATE="")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{api.url}/sta/v1.1", timeout=30) as client:
        yield client


def _series(rows: list[Row], sensor: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((t, v) for s, m, t, v in rows if s == sensor and m == metric)
    times = np.array([t.timestamp() for t, _ in pts])
    values = np.array([v for _, v in pts])
    return times, values


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_frost_client_reads_things_datastreams_observations(
    dataset: list[Row], db: asyncpg.Connection, api: ApiProcess
) -> None:
    service = fsc.SensorThingsService(f"{api.url}/sta/v1.1")
    public = sorted(s for s, p in PLACES.items() if not p.private)
    things = list(service.things().query().list())
    assert sorted(t.name for t in things) == public
    assert all(t.id == t.name for t in things)

    db_series = await db.fetch("SELECT DISTINCT r.sensor_id, r.metric FROM readings r JOIN sensors s "
                               "ON s.id = r.sensor_id WHERE NOT s.private AND r.sensor_id LIKE 'sta:%'")
    datastreams = list(service.datastreams().query().top(3).list())  # 3 per page: nextLink is followed
    assert sorted(d.name for d in datastreams) == sorted(f"{r['sensor_id']} {r['metric']}" for r in db_series)
    for d in datastreams:
        _, metric = d.name.split(" ")
        assert d.unit_of_measurement.symbol == METRICS[metric].unit

    # One Datastream by its quoted string id, then all its Observations through pages of the server's
    # maximum (150, whatever $top asks): values and times equal to the database's rows.
    ds = service.datastreams().find("sta:a1:pm25")
    assert ds.name == "sta:a1 pm25"
    got = list(ds.get_observations().query().top(1000).list())
    stored = await db.fetch("SELECT time, value FROM readings WHERE sensor_id = 'sta:a1' AND metric = 'pm25' "
                            "ORDER BY time")
    assert len(stored) > 2 * 150
    assert [(_ts(o.phenomenon_time), o.result) for o in got] == [(r["time"].timestamp(), r["value"]) for r in stored]

    thing = service.things().find("sta:a2")
    locations = list(thing.get_locations().query().list())
    assert [tuple(loc.location["coordinates"]) for loc in locations] == [(4.698, 50.863)]


async def test_observation_paging_and_filter_match_numpy(dataset: list[Row], http: httpx.AsyncClient) -> None:
    times, values = _series(dataset, "sta:a3", "temperature")
    lo, hi = START + timedelta(hours=5), START + timedelta(hours=26)
    threshold = float(np.percentile(values, 40))
    flt = (f"phenomenonTime ge {lo.isoformat().replace('+00:00', 'Z')} and phenomenonTime lt "
           f"{hi.isoformat().replace('+00:00', 'Z')} and (result gt {threshold} or result eq {values[0]})")
    mask = (times >= lo.timestamp()) & (times < hi.timestamp()) & ((values > threshold) | (values == values[0]))
    for order, want_times in (("asc", times[mask]), ("desc", times[mask][::-1])):
        url: str | None = "Datastreams('sta:a3:temperature')/Observations"
        params: dict[str, str] | None = {"$filter": flt, "$top": "37", "$count": "true",
                                         "$orderby": f"phenomenonTime {order}"}
        seen: list[dict[str, Any]] = []
        pages = 0
        while url is not None:
            r = await http.get(url, params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["@iot.count"] == int(mask.sum())
            assert len(body["value"]) <= 37
            seen += body["value"]
            url, params, pages = body.get("@iot.nextLink"), None, pages + 1
        assert pages == -(-int(mask.sum()) // 37)
        np.testing.assert_array_equal(np.array([_ts(o["phenomenonTime"]) for o in seen]), want_times)
        by_time = dict(zip(times, values, strict=True))
        assert [o["result"] for o in seen] == [by_time[t] for t in want_times]


async def test_pages_across_days_and_sparse_filters_match_numpy(dataset: list[Row], http: httpx.AsyncClient) -> None:
    """Pages whose rows lie in one window, and pages of a filter so sparse that a page spans days
    (each further window sized for more rows): all of them, in both orders, as numpy says."""
    times, values = _series(dataset, "sta:w1", "pm25")
    for flt, mask in ((None, np.ones(len(values), dtype=bool)), ("result gt 97.5", values > 97.5)):
        for order in ("asc", "desc"):
            url: str | None = "Datastreams('sta:w1:pm25')/Observations"
            params: dict[str, str] | None = {"$top": "100", "$orderby": f"phenomenonTime {order}",
                                             **({"$filter": flt} if flt else {})}
            got: list[float] = []
            while url is not None:
                body = (await http.get(url, params=params)).json()
                got += [_ts(o["phenomenonTime"]) for o in body["value"]]
                url, params = body.get("@iot.nextLink"), None
            want = times[mask] if order == "asc" else times[mask][::-1]
            np.testing.assert_array_equal(np.array(got), want)


async def test_entity_filters_orderby_select_expand(dataset: list[Row], http: httpx.AsyncClient) -> None:
    r = await http.get("Datastreams", params={"$filter": "Thing/properties/district eq 'Leuven' and "
                                                         "ObservedProperty/name eq 'pm25'", "$expand": "Thing"})
    assert r.status_code == 200, r.text
    leuven = sorted(s for s, p in PLACES.items() if p.district == "Leuven" and not p.private)
    assert [d["name"] for d in r.json()["value"]] == [f"{s} pm25" for s in leuven]
    assert [d["Thing"]["name"] for d in r.json()["value"]] == leuven

    r = await http.get("Datastreams", params={"$filter": "Thing/name eq 'sta:a2'", "$select": "id,name"})
    assert r.json()["value"] == [{"@iot.id": "sta:a2:pm25", "name": "sta:a2 pm25"},
                                 {"@iot.id": "sta:a2:temperature", "name": "sta:a2 temperature"}]

    public = sorted((s for s, p in PLACES.items() if not p.private), reverse=True)
    r = await http.get("Things", params={"$orderby": "name desc", "$top": "2", "$skip": "1", "$count": "true"})
    body = r.json()
    assert [t["name"] for t in body["value"]] == public[1:3]
    assert body["@iot.count"] == len(public)
    assert "%24skip=3" in body["@iot.nextLink"]

    r = await http.get("Things('sta:a1')/Datastreams('sta:a1:pm25')/Observations", params={"$top": "1"})
    first = r.json()["value"][0]
    r = await http.get(first["@iot.selfLink"].split("/sta/v1.1/")[1], params={"$expand": "Datastream"})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == first["result"]
    assert r.json()["Datastream"]["unitOfMeasurement"]["symbol"] == "ug/m3"


@pytest.mark.parametrize(("path", "params", "reason"), [
    ("Things", {"$top": "-1"}, "$top must be a non-negative integer"),
    ("Things", {"$bogus": "1"}, "unknown query option $bogus"),
    ("Things", {"$filter": "name eq"}, "$filter: syntax error at character 5"),
    ("Things", {"$filter": "colour eq 'red'"}, "$filter: Things have no property 'colour'"),
    ("Things", {"$filter": "contains(name, 'a')"}, "is not supported"),
    ("Datastreams('sta:a1:pm25')/Observations", {"$filter": "result eq 'high'"},
     "$filter: result is a number, compared with a text"),
    ("Datastreams('sta:a1:pm25')/Observations", {"$orderby": "result"},
     "Observations cannot be ordered by 'result'"),
    ("Datastreams", {"$expand": "Observations"}, "Observations cannot be expanded"),
    ("Datastreams", {"$expand": "Thing/Locations"}, "one level without options"),
    ("Things", {"$select": "colour"}, "$select: Things have no property 'colour'"),
    ("Things", {"$count": "yes"}, "$count must be true or false"),
    ("Observations", {}, "Observations are listed per Datastream"),
])
async def test_bad_options_get_400_with_the_reason(
    dataset: list[Row], http: httpx.AsyncClient, path: str, params: dict[str, str], reason: str
) -> None:
    r = await http.get(path, params=params)
    assert r.status_code == 400, r.text
    assert reason in r.json()["message"]


async def test_private_sensors_need_a_key(dataset: list[Row], http: httpx.AsyncClient) -> None:
    for path in ("Things('sta:e1')", "Datastreams('sta:e1:power')", "Datastreams('sta:e1:power')/Observations"):
        assert (await http.get(path)).status_code == 404
    r = await http.get("Datastreams('sta:e1:power')/Observations", params={"$top": "5"},
                       headers={"X-API-Key": READ_KEY})
    assert r.status_code == 200
    assert len(r.json()["value"]) == 5
    names = [t["name"] for t in (await http.get("Things", headers={"X-API-Key": READ_KEY})).json()["value"]]
    assert "sta:e1" in names
    assert (await http.get("Things", headers={"X-API-Key": "wrong"})).status_code == 401


async def test_observation_pages_are_index_range_scans(dataset: list[Row], db: asyncpg.Connection) -> None:
    pred = And(Compare(("phenomenonTime",), Op.GE, START + timedelta(hours=3)), Compare(("result",), Op.GT, 1.0))
    sql, rest = observations_sql(pred, START + timedelta(hours=4), False, 0)
    # On this test's few rows the planner rightly prefers scanning everything; a year of rows does
    # not. Without those plans left to it, the page must still be an ordered range of the key.
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        await db.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}", "sta:a1", "pm25", 1001, *rest))
    assert "Index Scan using" in plan, plan
    assert "series_readings_key" in plan, plan
    assert "Sort" not in plan, plan  # the index order is the page order: it stops after LIMIT rows
