from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from ingest.pollers.area import area_path, records, select, station
from ingest.pollers.telraam_rows import AnswerError
from models.districts import district_at

PAYLOADS = Path(__file__).resolve().parents[3] / "fixtures" / "payloads"
# An area answer of Leuven stations in the API's record shape (own fixture, see its README).
LEUVEN = orjson.loads((PAYLOADS / "own__sensor-community-api-v1-records.json").read_bytes())


def test_area_path_is_the_documented_filter() -> None:
    assert area_path(50.879, 4.701, 6.0) == "/airrohr/v1/filter/area=50.879,4.701,6"


def test_station_row_from_a_record() -> None:
    st = station(LEUVEN[0])
    assert st is not None
    assert st.sensor_id == "sensor.community:80123"
    assert (st.lat, st.lon, st.model) == (50.879, 4.701, "SDS011")
    assert st.district == "Leuven"
    assert not st.indoor


def test_each_record_goes_out_unchanged_on_its_sensors_topic() -> None:
    chosen = select(LEUVEN, frozenset(), include_indoor=False)
    assert [orjson.loads(m.payload) for m in chosen.outgoing] == LEUVEN
    assert {m.topic for m in chosen.outgoing} == {f"airrohr/{r['sensor']['id']}" for r in LEUVEN}


def test_indoor_stations_are_left_out_unless_asked_for() -> None:
    indoor = copy.deepcopy(LEUVEN[0])
    indoor["id"] = 1
    indoor["location"]["indoor"] = 1
    recs = [*LEUVEN, indoor]
    assert select(recs, frozenset(), include_indoor=False).indoor == 1
    assert len(select(recs, frozenset(), include_indoor=False).outgoing) == len(LEUVEN)
    assert len(select(recs, frozenset(), include_indoor=True).outgoing) == len(LEUVEN) + 1


def test_an_overlapping_poll_sends_only_records_not_sent_before() -> None:
    first = select(LEUVEN[:2], frozenset(), include_indoor=False)
    second = select(LEUVEN, first.seen, include_indoor=False)
    assert second.repeated == 2
    assert [orjson.loads(m.payload) for m in second.outgoing] == LEUVEN[2:]


def test_a_record_without_a_sensor_id_still_goes_out_for_ingest_to_refuse() -> None:
    chosen = select([{"timestamp": "2026-11-05 10:00:00", "sensordatavalues": []}], frozenset(), False)
    assert [m.topic for m in chosen.outgoing] == ["airrohr/unknown"]
    assert chosen.stations == []


@pytest.mark.parametrize("body", [b"{}", b"not json"])
def test_an_answer_that_is_not_an_array_is_an_error(body: bytes) -> None:
    with pytest.raises(AnswerError):
        records(body)


@pytest.mark.parametrize(("lat", "lon", "district"), [
    (50.8792, 4.7009, "Leuven"),  # Grote Markt
    (50.8640, 4.6780, "Heverlee"),  # Arenberg campus
    (50.8880, 4.7300, "Kessel-Lo"),
    (50.9010, 4.6930, "Wilsele"),
    (50.9270, 4.6990, "Wijgmaal"),
    (50.9000, 4.6200, None),  # Herent, west of the city
    (50.8490, 4.7800, None),  # Bertem
])
def test_district_by_nearest_centre_within_the_city(lat: float, lon: float, district: str | None) -> None:
    assert district_at(lat, lon) == district


def test_area_setting() -> None:
    from citysense.settings import Settings, parse_area

    assert parse_area("50.879,4.701,6") == (50.879, 4.701, 6.0)
    assert Settings().area == (50.879, 4.701, 6.0)  # default: Leuven
    for bad in ("50.879,4.701", "north,4.7,6", "95,4.7,6", "50.8,4.7,0"):
        with pytest.raises(ValueError, match="area"):
            parse_area(bad)
