"""Query options and resource paths: what is accepted, and the exact 400/404 for what is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.sensorthings.errors import BadOption, NotFound, StaError
from api.sensorthings.filtering import Compare, Op
from api.sensorthings.model import ENTITIES, observation_id, split_datastream_id, split_observation_id
from api.sensorthings.options import Order, parse_options
from api.sensorthings.paths import parse_path

THING, OBS, DS = ENTITIES["Thing"], ENTITIES["Observation"], ENTITIES["Datastream"]


def test_defaults_and_cap() -> None:
    assert parse_options({}, THING, 100, 1000).top == 100
    assert parse_options({"$top": "5000"}, THING, 100, 1000).top == 1000  # lowered, then paged by nextLink
    opts = parse_options({"$top": "0", "$skip": "7", "$count": "TRUE", "other": "ignored"}, THING, 100, 1000)
    assert (opts.top, opts.skip, opts.count) == (0, 7, True)


def test_orderby_select_expand_filter() -> None:
    opts = parse_options({"$orderby": "name desc, @iot.id", "$select": "id,name,Datastreams",
                          "$expand": "Locations", "$filter": "properties/district eq 'Leuven'"}, THING, 100, 1000)
    assert opts.orderby == (Order(("name",), True), Order(("id",), False))
    assert opts.select == ("id", "name", "Datastreams")
    assert opts.expand == ("Locations",)
    assert opts.filter == Compare(("properties", "district"), Op.EQ, "Leuven")
    ds = parse_options({"$filter": "Thing/name eq 'x'", "$orderby": "Thing/name"}, DS, 100, 1000)
    assert ds.orderby == (Order(("Thing", "name")),)


def test_skiptoken_is_for_observations_only() -> None:
    t = parse_options({"$skiptoken": "2026-03-29T01:00:00.5Z"}, OBS, 100, 1000).skiptoken
    assert t == datetime(2026, 3, 29, 1, 0, 0, 500000, tzinfo=UTC)
    with pytest.raises(BadOption, match=r"^\$skiptoken: not used for Things; page with \$skip$"):
        parse_options({"$skiptoken": "x"}, THING, 100, 1000)


@pytest.mark.parametrize(("params", "et", "message"), [
    ({"$top": "-1"}, THING, "$top must be a non-negative integer, not '-1'"),
    ({"$skip": "1.5"}, THING, "$skip must be a non-negative integer, not '1.5'"),
    ({"$count": "1"}, THING, "$count must be true or false, not '1'"),
    ({"$format": "csv"}, THING, "unknown query option $format; known: $count, $expand, $filter, $orderby, "
                                "$resultFormat, $select, $skip, $skiptoken, $top"),
    ({"$resultFormat": "dataArray"}, OBS, "$resultFormat: only the default format is supported"),
    ({"$orderby": "result"}, OBS, "$orderby: Observations cannot be ordered by 'result'; by one of phenomenonTime"),
    ({"$orderby": "name sideways"}, THING, "$orderby: 'name sideways' is not '<property> [asc|desc]'"),
    ({"$orderby": "name,"}, THING, "$orderby: empty item in 'name,'"),
    ({"$select": "colour"}, THING, "$select: Things have no property 'colour'; one of id, selfLink, name, "
                                   "description, properties, Locations, Datastreams"),
    ({"$expand": "Observations"}, DS, "$expand: Observations cannot be expanded; page through "
                                      "/Datastreams(id)/Observations"),
    ({"$expand": "Thing($select=name)"}, DS, "$expand: 'Thing($select=name)': one level without options is "
                                             "supported, e.g. $expand=Thing"),
    ({"$expand": "Owner"}, DS, "$expand: Datastreams have no navigation property 'Owner'; one of Thing, Sensor, "
                               "ObservedProperty, Observations"),
    ({"$skiptoken": "yesterday"}, OBS, "$skiptoken: 'yesterday' is not one this service handed out"),
])
def test_bad_options(params: dict[str, str], et: object, message: str) -> None:
    with pytest.raises(BadOption) as exc:
        parse_options(params, et, 100, 1000)  # type: ignore[arg-type]
    assert str(exc.value) == message


def test_paths() -> None:
    assert parse_path("") == []
    segs = parse_path("Things('a/b:c')/Datastreams('a/b:c:pm25')/Observations")
    assert [(s.type.name, s.id, s.many, s.link) for s in segs] == [
        ("Thing", "a/b:c", True, None), ("Datastream", "a/b:c:pm25", True, "Datastreams"),
        ("Observation", None, True, "Observations"),
    ]
    assert parse_path("Datastreams('x:y')/Thing")[-1].many is False
    assert parse_path("Things('it''s')")[0].id == "it's"


@pytest.mark.parametrize(("path", "error", "message"), [
    ("Cars", NotFound, "no entity set 'Cars'; one of Things, Locations, Sensors, ObservedProperties, Datastreams, "
                       "Observations, FeaturesOfInterest"),
    ("Things/Datastreams", BadOption, "Things: name one entity, e.g. Things('id')/Datastreams"),
    ("Things('a')/Owner", NotFound, "Thing has no navigation property 'Owner'; one of Locations, Datastreams"),
    ("Things('a')/name", BadOption, "name: addressing a property or a reference is not supported; use $select"),
    ("Datastreams('a:b')/Thing('a')", BadOption, "Thing is a single entity: no id after it"),
    ("Things(a)", BadOption, "bad path segment 'Things(a)': use EntitySet or EntitySet('id')"),
])
def test_bad_paths(path: str, error: type[StaError], message: str) -> None:
    with pytest.raises(error) as exc:
        parse_path(path)
    assert str(exc.value) == message


def test_ids_round_trip() -> None:
    t = datetime(2026, 3, 29, 1, 2, 3, 4, tzinfo=UTC)
    assert split_observation_id(observation_id("tasmota:pow1:power", t)) == ("tasmota:pow1:power", t)
    assert split_datastream_id("tasmota:pow1:power") == ("tasmota:pow1", "power")
    with pytest.raises(NotFound):
        split_datastream_id("power")
