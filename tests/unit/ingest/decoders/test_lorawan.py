from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from ingest.decoders import milesight
from ingest.decoders.lorawan import FORMAT_CHIRPSTACK, FORMAT_TTN, decode_chirpstack, decode_ttn
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc

TTN_TOPIC = "v3/application-tts-name@ttn/devices/eui-1000000000000001/up"
CS_TOPIC = "application/ca739e26-7b67-4f14-b69e-d568c22a5a75/device/1000000000000001/event/up"
TTN_SENSOR = "ttn:eui-1000000000000001"
TTN_TIME = utc(2023, 5, 19, 5, 33, 35, 848446)  # top-level received_at, nanoseconds cut


def _doc(name: str) -> dict[str, Any]:
    doc = orjson.loads(payload(name))
    assert isinstance(doc, dict)
    return doc


def test_ttn_em310_udl_raw_frame_through_the_milesight_codec() -> None:
    assert_readings(decode_ttn(TTN_TOPIC, payload("ttn-v3__milesight-em310-udl-bin-raw.json"), CTX), [
        (TTN_SENSOR, "battery", 92, TTN_TIME),
        (TTN_SENSOR, "distance", 2116, TTN_TIME),
        (TTN_SENSOR, "tilted", 1, TTN_TIME),
    ])


def test_ttn_am319_raw_frame() -> None:
    assert_readings(decode_ttn(TTN_TOPIC, payload("ttn-v3__milesight-am319-air-raw.json"), CTX), [
        (TTN_SENSOR, "battery", 85, TTN_TIME),
        (TTN_SENSOR, "temperature", 23.8, TTN_TIME),
        (TTN_SENSOR, "humidity", 62.0, TTN_TIME),
        (TTN_SENSOR, "co2", 936, TTN_TIME),
        (TTN_SENSOR, "pressure", 1008.6, TTN_TIME),
        (TTN_SENSOR, "pm25", 32, TTN_TIME),
        (TTN_SENSOR, "pm10", 48, TTN_TIME),
    ])


def test_chirpstack_em310_udl_raw_frame() -> None:
    t = utc(2023, 5, 22, 7, 47, 5, 404859)
    s = "chirpstack:1000000000000001"
    assert_readings(decode_chirpstack(CS_TOPIC, payload("chirpstack-v4__milesight-em310-udl-bin-raw.json"), CTX), [
        (s, "battery", 92, t), (s, "distance", 2116, t), (s, "tilted", 1, t),
    ])


def test_ttn_decoded_payload_is_used_and_agrees_with_the_codec() -> None:
    topic = "v3/leuven-air@ttn/devices/eui-24e124000000a001/up"
    t = utc(2024, 3, 12, 8, 21, 9, 118204)
    s = "ttn:eui-24e124000000a001"
    got = decode_ttn(topic, payload("own__ttn-em320-th-decoded.json"), CTX)
    assert_readings(got, [(s, "battery", 97, t), (s, "humidity", 55.5, t), (s, "temperature", -2.4, t)])
    frame = base64.b64decode(_doc("own__ttn-em320-th-decoded.json")["uplink_message"]["frm_payload"])
    assert milesight.decode(frame) == {r.metric: r.value for r in got}


def test_ttn_uplink_without_decoded_payload_or_codec_is_rejected() -> None:
    with pytest.raises(DecodeError, match=r"^no decoded payload and no codec for f_port 15$"):
        decode_ttn("v3/app1@tenant1/devices/dev1/up", payload("ttn-v3__docs-mqtt-uplink-no-decoded-payload.json"), CTX)


def test_chirpstack_event_without_object_or_codec_is_rejected() -> None:
    topic = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"
    with pytest.raises(DecodeError, match=r"^no decoded payload and no codec for f_port 1$"):
        decode_chirpstack(topic, payload("chirpstack-v4__docs-uplink-event-no-object.json"), CTX)


def test_official_example_with_invalid_json_is_a_parse_error() -> None:
    with pytest.raises(DecodeError, match=r"^invalid JSON: "):
        decode_ttn("v3/app1@tenant1/devices/dev1/up",
                   payload("ttn-v3__docs-data-formats-uplink-example-INVALID-JSON.txt"), CTX)


def test_ttn_time_falls_back_to_network_server_then_gateway() -> None:
    doc = _doc("ttn-v3__milesight-em310-udl-bin-raw.json")
    del doc["received_at"]
    (r, *_) = decode_ttn(TTN_TOPIC, orjson.dumps(doc), CTX)
    assert r.time == utc(2023, 5, 19, 5, 33, 35, 641841)
    del doc["uplink_message"]["received_at"]
    (r, *_) = decode_ttn(TTN_TOPIC, orjson.dumps(doc), CTX)
    assert r.time == utc(2023, 5, 19, 5, 33, 35, 608982)
    docs = _doc("ttn-v3__docs-mqtt-uplink-no-decoded-payload.json")  # rx_metadata[0].time only
    docs["uplink_message"]["decoded_payload"] = {"temperature": 0.0}
    assert decode_ttn("v3/app1@tenant1/devices/dev1/up", orjson.dumps(docs), CTX) == [
        ("ttn:dev1", "temperature", 0.0, utc(2019, 1, 29, 13, 2, 34, 981000)),
    ]
    del docs["uplink_message"]["rx_metadata"]
    assert decode_ttn("v3/app1@tenant1/devices/dev1/up", orjson.dumps(docs), CTX)[0].time is None


def test_decoded_field_names() -> None:
    decoded = {"Temp": 4.5, "hum": 80, "pm2_5": 11, "pm10": 20, "pressure": 1001.2, "battery": 88,
               "distance": 840, "position": "normal", "pir": "trigger", "tvoc": 37, "light_level": 2,
               "co2": 612, "humidity": None, "history": [{"temperature": 1}], "luminosity": 0.64}
    doc = {"received_at": "2024-01-01T00:00:00Z", "uplink_message": {"f_port": 85, "decoded_payload": decoded}}
    t = utc(2024, 1, 1)
    assert_readings(decode_ttn("v3/a/devices/d/up", orjson.dumps(doc), CTX), [
        ("ttn:d", "temperature", 4.5, t), ("ttn:d", "pm25", 11, t), ("ttn:d", "pm10", 20, t),
        ("ttn:d", "pressure", 1001.2, t), ("ttn:d", "battery", 88, t), ("ttn:d", "distance", 840, t),
        ("ttn:d", "tilted", 0, t), ("ttn:d", "co2", 612, t),
    ])


@pytest.mark.parametrize(("position", "tilted"), [("tilt", 1.0), ("normal", 0.0), (True, 1.0), (0, 0.0)])
def test_tilt_positions(position: object, tilted: float) -> None:
    doc = {"object": {"position": position}, "fPort": 85, "time": "2024-01-01T00:00:00+00:00"}
    assert decode_chirpstack("application/1/device/AABB/event/up", orjson.dumps(doc), CTX) == [
        ("chirpstack:aabb", "tilted", tilted, utc(2024, 1, 1)),
    ]


def test_uplink_without_application_payload_has_no_readings() -> None:
    assert decode_ttn("v3/a/devices/d/up", b'{"uplink_message":{"f_port":1}}', CTX) == []
    assert decode_chirpstack("application/1/device/aa/event/up", b'{"fPort":0}', CTX) == []


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "must be a JSON object with an 'uplink_message' object"),
    (b'{"uplink_message":{"f_port":85,"frm_payload":"***"}}', "frame payload is not base64"),
    (b'{"uplink_message":{"f_port":85,"frm_payload":5}}', "frame payload must be a base64 string"),
    (b'{"uplink_message":{"frm_payload":"AQ=="}}', r"no decoded payload and no codec for f_port \(none\)"),
    (b'{"uplink_message":{"f_port":85,"frm_payload":"KpkA"}}', "milesight: unknown channel 0x2a"),
    (b'{"uplink_message":{"decoded_payload":{"battery":"full"}}}', "decoded battery: 'full' is not a number"),
    (b'{"uplink_message":{"decoded_payload":{"position":"unknown"}}}', "decoded position: 'unknown' is not"),
    (b'{"received_at":"noon","uplink_message":{}}', "not ISO-8601"),
])
def test_ttn_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_ttn("v3/a/devices/d/up", body, CTX)


def test_topics() -> None:
    assert FORMAT_TTN.matches("v3/app1@tenant1/devices/dev1/up")
    assert FORMAT_TTN.matches("v3/app1/devices/dev1/up")  # open-source Things Stack: no tenant
    assert not FORMAT_TTN.matches("v3/app1@tenant1/devices/dev1/join")
    assert FORMAT_CHIRPSTACK.matches("application/17c82e96/device/0101010101010101/event/up")
    assert not FORMAT_CHIRPSTACK.matches("application/17c82e96/device/0101010101010101/event/status")
