"""The in-memory entities and collection pages: filtering, ordering and paging against plain Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from api.queries.sensorthings import window_end
from api.sensorthings.documents import next_link, observation_doc, observation_page, page, render
from api.sensorthings.graph import SensorRow, SeriesRow, build_graph
from api.sensorthings.model import ENTITIES
from api.sensorthings.options import parse_options

T = datetime(2026, 3, 1, tzinfo=UTC)


def _graph(n: int = 40) -> tuple[list[SensorRow], object]:
    rng = random.Random(5)
    sensors = [SensorRow(f"s:{i:02d}", "air", rng.choice(["SDS011", None]), rng.choice(["Leuven", "Heverlee", None]),
                         50.8 if i % 3 else None, 4.7 if i % 3 else None) for i in range(n)]
    series = [SeriesRow(s.id, m, T, T) for s in sensors for m in ("pm25", "pm10") if rng.random() < 0.8]
    series.append(SeriesRow("s:00", "not_a_metric", T, T))
    series.append(SeriesRow("gone:1", "pm25", T, T))  # a sensor not visible: left out
    return sensors, build_graph(sensors, series)


def test_graph_relations() -> None:
    sensors, graph = _graph()
    g = graph  # type: ignore[assignment]
    things = g.all("Thing")  # type: ignore[attr-defined]
    assert [t.id for t in things] == sorted(s.id for s in sensors)
    assert {d.id.rsplit(":", 1)[1] for d in g.all("Datastream")} <= {"pm25", "pm10"}  # type: ignore[attr-defined]
    for s in sensors:
        located = g.get("Location", s.id) is not None  # type: ignore[attr-defined]
        assert located == (s.lat is not None)
        for ds_id in g.get("Thing", s.id).related["Datastreams"]:  # type: ignore[attr-defined]
            ds = g.get("Datastream", ds_id)  # type: ignore[attr-defined]
            assert ds.related["Thing"] == (s.id,)
            assert ds.related["Sensor"] == (s.model or "unknown",)
            assert ds.props[("Thing", "properties", "district")] == s.district


def test_pages_agree_with_python() -> None:
    sensors, g = _graph()
    datastreams = g.all("Datastream")  # type: ignore[attr-defined]
    opts = parse_options({"$filter": "Thing/properties/district eq 'Leuven' or Sensor/name eq 'SDS011'",
                          "$orderby": "Thing/properties/district desc,name", "$top": "7", "$skip": "3"},
                         ENTITIES["Datastream"], 100, 1000)
    district = {s.id: s.district for s in sensors}
    model = {s.id: s.model for s in sensors}
    chosen = [d for d in datastreams if district[d.related["Thing"][0]] == "Leuven"
              or model[d.related["Thing"][0]] == "SDS011"]
    # descending district with nulls... sorted as the page sorts: by name, then stable by district desc
    chosen.sort(key=lambda d: d.doc["name"])
    chosen.sort(key=lambda d: (district[d.related["Thing"][0]] is None, district[d.related["Thing"][0]] or ""),
                reverse=True)
    got = page(datastreams, opts)
    assert got.count == len(chosen)
    assert [d.id for d in got.items] == [d.id for d in chosen[3:10]]
    assert got.more == (len(chosen) > 10)
    counted = page(datastreams, parse_options({"$top": "0", "$count": "true"}, ENTITIES["Datastream"], 100, 1000))
    assert (counted.items, counted.count, counted.more) == ([], len(datastreams), False)


def test_render_select_and_links() -> None:
    doc = render("http://h/sta/v1.1", "Thing", "it's", {"name": "x"})
    assert doc["@iot.selfLink"] == "http://h/sta/v1.1/Things('it''s')"
    assert doc["Datastreams@iot.navigationLink"] == "http://h/sta/v1.1/Things('it''s')/Datastreams"
    assert render("b", "Thing", "a", {"name": "x", "description": "d"}, ("id", "Locations")) == {
        "@iot.id": "a", "Locations@iot.navigationLink": "b/Things('a')/Locations"}
    assert next_link("b", "Things", {"$top": "5", "$skip": "0", "$filter": "a eq 'b'"}, **{"$skip": "5"}) == \
        "b/Things?%24top=5&%24filter=a+eq+%27b%27&%24skip=5"


def test_observation_page_is_render_of_each_observation() -> None:
    rows = [(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 1.5), (datetime(2026, 3, 29, 1, 0, 0, 7, tzinfo=UTC), -2.0)]
    for select in ((), ("id", "result", "Datastream")):
        want = [render("b", "Observation", oid, doc, select)
                for oid, doc in (observation_doc("it's:pm25", t, v) for t, v in rows)]
        assert observation_page("b", "it's:pm25", rows, select) == want
    assert want[1]["@iot.id"] == "it's:pm25@2026-03-29T01:00:00.000007Z"


def test_window_end_counts_what_lies_past_the_start() -> None:
    days = [(T + timedelta(days=i), 600) for i in range(5)]
    # 1,250 rows wanted (1,000 and a quarter): days 0, 1 and a part of 2.
    assert window_end(days, 1000, False, None) == T + timedelta(days=2, hours=26)
    assert window_end(days, 400, False, None) == T + timedelta(hours=26)
    # From noon of day 0: 300 + 600 + 600 >= 1,250 on day 2.
    assert window_end(days, 1000, False, T + timedelta(hours=12)) == T + timedelta(days=2, hours=26)
    # A day wholly before the start counts nothing.
    assert window_end(days, 400, False, T + timedelta(days=1)) == T + timedelta(days=1, hours=26)
    back = list(reversed(days))
    assert window_end(back, 1000, True, T + timedelta(days=4, hours=12)) == T + timedelta(days=2)
    assert window_end(days, 5000, False, None) is None
