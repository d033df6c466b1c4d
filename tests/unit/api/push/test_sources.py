"""Where a pushed payload goes: the topic of its format, so it gets the sensor id it would get over MQTT."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from api.push.sources import (
    SENML_TOPIC,
    Pushed,
    Source,
    Unroutable,
    accepts,
    airrohr_topic,
    media_type,
    topic_for,
)
from ingest.decoders.base import DecodeContext
from ingest.decoders.registry import decode
from ingest.errors import DecodeError

PUSH = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "push"


def _body(name: str) -> bytes:
    return (PUSH / name).read_bytes()


@pytest.mark.parametrize(
    ("source", "content_type", "ok"),
    [
        (Source.TTN, "application/json", True),
        (Source.TTN, "application/json; charset=utf-8", True),
        (Source.TTN, "Application/JSON", True),
        (Source.TTN, "application/octet-stream", False),  # a protobuf marshaler
        (Source.TTN, None, False),
        (Source.SENML, "application/senml+json", True),
        (Source.SENML, "application/json", True),
        (Source.JSON, "application/senml+json", False),
        (Source.SENSOR_COMMUNITY, "application/x-www-form-urlencoded", False),  # curl -d
    ],
)
def test_content_types(source: Source, content_type: str | None, ok: bool) -> None:
    assert accepts(source, content_type) is ok


def test_media_type() -> None:
    assert media_type(" application/json ; charset=utf-8") == "application/json"
    assert media_type(None) == ""


@pytest.mark.parametrize(
    ("pushed", "topic", "sensor"),
    [
        (Pushed(Source.TTN, _body("ttn-webhook-uplink.json")),
         "v3/leuven-air@ttn/devices/eui-24e124000000a001/up", "ttn:eui-24e124000000a001"),
        (Pushed(Source.CHIRPSTACK, _body("chirpstack-event-up.json")),
         "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/24e124000000a001/event/up",
         "chirpstack:24e124000000a001"),
        (Pushed(Source.SENSOR_COMMUNITY, _body("airrohr-push.json"), x_sensor="esp8266-12331981"),
         "airrohr/esp8266-12331981", "sensor.community:esp8266-12331981"),
        (Pushed(Source.SENSOR_COMMUNITY, _body("airrohr-push.json")),  # no header: the body's esp8266id
         "airrohr/esp8266-12331981", "sensor.community:esp8266-12331981"),
        (Pushed(Source.SENML, _body("senml-pack.json")), SENML_TOPIC, "senml:urn:dev:ow:10e2073a01080063"),
        (Pushed(Source.JSON, _body("citysense-json.json"), device="meter-7"), "citysense/json/meter-7",
         "citysense:meter-7"),
    ],
)
def test_the_topic_gives_the_mqtt_sensor_id(pushed: Pushed, topic: str, sensor: str) -> None:
    assert topic_for(pushed) == topic
    readings = decode(topic, pushed.body, DecodeContext())
    assert readings
    assert {r.sensor_id for r in readings} == {sensor}


def test_ttn_tenant_from_the_network_ids() -> None:
    doc = orjson.loads(_body("ttn-webhook-uplink.json"))
    doc["uplink_message"]["network_ids"]["tenant_id"] = "leuven"
    assert topic_for(Pushed(Source.TTN, orjson.dumps(doc))).startswith("v3/leuven-air@leuven/")
    del doc["uplink_message"]["network_ids"]
    assert topic_for(Pushed(Source.TTN, orjson.dumps(doc))).startswith("v3/leuven-air@ttn/")


@pytest.mark.parametrize(
    ("pushed", "reason"),
    [
        (Pushed(Source.TTN, b"{"), "is not JSON"),
        (Pushed(Source.TTN, b"[]"), "must be a JSON object"),
        (Pushed(Source.TTN, b'{"uplink_message": {}}'), "no end_device_ids.device_id"),
        (Pushed(Source.TTN, b'{"end_device_ids": {"device_id": "a/b", "application_ids": {"application_id": "x"}}}'),
         "cannot name an MQTT topic level"),
        (Pushed(Source.CHIRPSTACK, b'{"deviceInfo": {"applicationId": "x"}}'), "no deviceInfo.devEui"),
        (Pushed(Source.CHIRPSTACK, b'{"deviceInfo": {"applicationId": "#", "devEui": "01"}}'), "cannot name"),
        (Pushed(Source.SENSOR_COMMUNITY, b'{"sensordatavalues": []}'), "the station is unnamed"),
        (Pushed(Source.SENSOR_COMMUNITY, b"{}", x_sensor="esp8266-1+2"), "cannot name"),
        (Pushed(Source.JSON, b"{}", device="a+"), "cannot name"),
        (Pushed(Source.JSON, b"{}", device="x" * 201), "cannot name"),
    ],
)
def test_unroutable(pushed: Pushed, reason: str) -> None:
    with pytest.raises(Unroutable, match=reason) as info:
        topic_for(pushed)
    assert isinstance(info.value, DecodeError)  # dead-lettered as a payload its decoder refuses


def test_airrohr_numeric_chip_id() -> None:
    assert airrohr_topic(None, b'{"esp8266id": 12345}') == "airrohr/esp8266-12345"
