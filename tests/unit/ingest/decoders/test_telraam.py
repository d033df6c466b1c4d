from __future__ import annotations

import orjson
import pytest

from ingest.decoders.telraam import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc

S = "telraam:348917"


def test_two_hourly_intervals_with_float_counts() -> None:
    t1, t2 = utc(2020, 10, 30, 7), utc(2020, 10, 30, 8)
    got = decode("telraam/348917/traffic", payload("telraam__api-v1-reports-traffic-segment348917-leuven.json"), CTX)
    assert_readings(got, [
        (S, "uptime", 0.73, t1),
        (S, "bikes", 263.0136986301, t1),
        (S, "cars", 619.1780821918, t1),
        (S, "pedestrians", 72.602739726, t1),
        (S, "heavy_vehicles", 78.0821917808, t1),
        (S, "speed_v85", 25.5, t1),
        (S, "uptime", 0.7738888889, t2),
        (S, "bikes", 95.6209619526, t2),
        (S, "cars", 462.5987078248, t2),
        (S, "pedestrians", 14.2139267767, t2),
        (S, "heavy_vehicles", 64.6087580761, t2),
        (S, "speed_v85", 27.5, t2),
    ])


def _report(**fields: object) -> bytes:
    item = {"segment_id": 348917, "date": "2020-10-30T07:00:00.000Z", "uptime": 0.5, **fields}
    return orjson.dumps({"status_code": 200, "report": [item]})


def test_unobserved_interval_has_its_uptime_only() -> None:
    # Its zeros are not counts; the uptime 0 is what health and the poller's resume point read.
    got = decode("telraam/348917/traffic", _report(uptime=0, bike=0, car=0), CTX)
    assert_readings(got, [(S, "uptime", 0.0, utc(2020, 10, 30, 7))])


def test_low_uptime_is_data() -> None:
    got = decode("telraam/348917/traffic", _report(uptime=0.05, bike=20.0), CTX)
    assert_readings(got, [(S, "uptime", 0.05, utc(2020, 10, 30, 7)), (S, "bikes", 20.0, utc(2020, 10, 30, 7))])


def test_missing_and_null_modes_are_skipped() -> None:
    got = decode("telraam/348917/traffic", _report(bike=3.5, car=None, v85=None), CTX)
    assert_readings(got, [(S, "uptime", 0.5, utc(2020, 10, 30, 7)), (S, "bikes", 3.5, utc(2020, 10, 30, 7))])


def test_date_without_zone_is_utc() -> None:
    got = decode("telraam/348917/traffic", _report(date="2020-10-30 07:00:00", bike=1), CTX)
    assert {r.time for r in got} == {utc(2020, 10, 30, 7)}


def test_empty_report() -> None:
    assert decode("telraam/348917/traffic", b'{"status_code":200,"message":"ok","report":[]}', CTX) == []


@pytest.mark.parametrize(("body", "message"), [
    (_report(segment_id=1, bike=1), "segment_id 1 does not match the topic's segment '348917'"),
    (b'{"status_code":403,"message":"Forbidden"}', "no 'report' array \\(status_code 403: 'Forbidden'\\)"),
    (_report(date=None, bike=1), r"report\[0\]: no 'date'"),
    (_report(bike="many"), r"report\[0\] bike: 'many' is not a number"),
    (b'{"report":[1]}', r"report\[0\]: not a JSON object"),
    (b"[]", "must be a JSON object"),
])
def test_bad_reports(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("telraam/348917/traffic", body, CTX)


def test_topics() -> None:
    assert FORMAT.matches("telraam/348917/traffic")
    assert not FORMAT.matches("telraam/348917")
