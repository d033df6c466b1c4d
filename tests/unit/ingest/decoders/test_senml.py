from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.decoders.senml import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, RECEIVED, assert_readings, payload, utc

URN = "senml:urn:dev:ow:10e2073a01080063"
TOPIC = "citysense/senml/dev"


def test_5_1_1_single_datapoint_without_time() -> None:
    got = decode(TOPIC, payload("senml__rfc8428-5.1.1-single-datapoint.json"), CTX)
    assert_readings(got, [(URN, "temperature", 23.1, None)])


def test_5_1_2_base_name_plus_metric_name() -> None:
    got = decode(TOPIC, payload("senml__rfc8428-5.1.2-multiple-datapoints.json"), CTX)
    assert_readings(got, [(URN, "voltage", 120.1, None), (URN, "current", 1.2, None)])


def test_5_1_2_relative_times_base_unit_and_the_15_digit_name_kept_verbatim() -> None:
    s = "senml:urn:dev:ow:10e2073a0108006"
    got = decode(TOPIC, payload("senml__rfc8428-5.1.2-relative-time-bver.json"), CTX)
    assert_readings(got, [
        (s, "voltage", 120.1, utc(2010, 6, 8, 18, 1, 16, 1000)),
        *[(s, "current", 1.2 + 0.1 * k, utc(2010, 6, 8, 18, 1, 11 + k, 1000)) for k in range(6)],
    ])


RESOLVED = [
    (URN, "humidity", 20.0, utc(2011, 10, 31, 13, 24, 24)),
    (URN, "humidity", 20.3, utc(2011, 10, 31, 13, 25, 24)),
    (URN, "humidity", 20.7, utc(2011, 10, 31, 13, 26, 24)),
    (URN, "battery", 98.0, utc(2011, 10, 31, 13, 26, 54)),
    (URN, "humidity", 21.2, utc(2011, 10, 31, 13, 27, 24)),
]


def test_5_1_3_resolves_to_the_same_readings_as_5_1_4() -> None:
    packed = decode(TOPIC, payload("senml__rfc8428-5.1.3-multiple-measurements.json"), CTX)
    resolved = decode(TOPIC, payload("senml__rfc8428-5.1.4-resolved.json"), CTX)
    assert packed == resolved
    assert_readings(packed, RESOLVED)  # positions (lon/lat) are not readings


def test_5_1_6_base_name_changes_while_base_time_carries_over() -> None:
    t = utc(2011, 10, 31, 16, 27, 9)
    got = decode(TOPIC, payload("senml__rfc8428-5.1.6-collection-of-resources.json"), CTX)
    assert_readings(got, [
        ("senml:2001:db8::2", "temperature", 25.2, t),
        ("senml:2001:db8::2", "humidity", 30.0, t),
        ("senml:2001:db8::1", "temperature", 12.3, t),
        ("senml:2001:db8::1", "humidity", 67.0, t),
    ])


def test_time_relative_to_now_and_unit_conversion() -> None:
    body = b'[{"bn":"meter:","n":"energy","u":"Wh","v":1500,"t":-60},{"n":"pressure","u":"Pa","v":101325}]'
    got = decode(TOPIC, body, CTX)
    assert_readings(got, [
        ("senml:meter", "energy_import", 1.5, RECEIVED - timedelta(seconds=60)),
        ("senml:meter", "pressure", 1013.25, None),
    ])


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "non-empty JSON array"),
    (b"[1]", "record 0: not a JSON object"),
    (b'[{"n":"x","u":["V"],"v":1}]', "record 0: u must be a string"),
    (b'[{"bn":"x:","bu":{},"n":"power","v":1}]', "record 0: bu must be a string"),
    (b'[{"n":"x:power","u":"V","v":1,"t":-1e20}]', "neither an epoch time nor a plausible relative one"),
    (b'[{"n":"x","u":"furlong","v":1}]', "cannot tell the metric of 'x' with unit 'furlong'"),
    (b'[{"bn":"x:","n":"voltage","u":"A","v":1}]', "unit 'A' does not fit metric 'voltage'"),
    (b'[{"n":"temperature","u":"Cel","v":1}]', "no base name or name"),
    (b'[{"n":"x","u":"Cel","v":"warm"}]', "record 0 v: 'warm' is not a number"),
])
def test_bad_packs(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode(TOPIC, body, CTX)


def test_topics() -> None:
    assert FORMAT.matches("citysense/senml")
    assert FORMAT.matches("citysense/senml/a/b")
    assert not FORMAT.matches("citysense/senmlx")
