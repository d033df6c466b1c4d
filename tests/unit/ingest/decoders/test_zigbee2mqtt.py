from __future__ import annotations

import pytest

from ingest.decoders.zigbee2mqtt import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc


def test_plug_on_a_custom_base_topic() -> None:
    t = utc(2024, 3, 12, 8, 20, 11)
    s = "zigbee2mqtt:plug_zigbee23"
    got = decode("zigbee2mqttcc1352/plug_zigbee23", payload("own__zigbee2mqtt-plug-energy.json"), CTX)
    assert_readings(got, [
        (s, "power", 87, t), (s, "current", 0.42, t), (s, "energy_import", 12.73, t), (s, "voltage", 233, t),
    ])


def test_battery_voltage_in_mv_is_not_mains_voltage() -> None:
    s = "zigbee2mqtt:0x54ef441000107069"
    got = decode("zigbee2mqtt/0x54ef441000107069", payload("own__zigbee2mqtt-aqara-air-battery-voltage.json"), CTX)
    assert_readings(got, [(s, "temperature", 21.4, None), (s, "humidity", 47.5, None), (s, "battery", 87, None)])


def test_linky_tariff_registers_are_summed() -> None:
    s = "zigbee2mqtt:Linky"
    got = decode("zigbee2mqtt/Linky", payload("own__zigbee2mqtt-linky-tiers.json"), CTX)
    assert_readings(got, [
        (s, "apparent_power", 1210, None),
        (s, "current", 5, None),  # rms_current; available_power (A or VA?) is not stored
        (s, "energy_import", 11032.118 + 8214.907, None),
    ])


def test_mains_device_without_battery_keeps_voltage() -> None:
    assert decode("zigbee2mqtt/din-meter", b'{"voltage":229.5,"linkquality":80}', CTX) == [
        ("zigbee2mqtt:din-meter", "voltage", 229.5, None),
    ]


def test_last_seen_as_epoch_milliseconds() -> None:
    (r,) = decode("zigbee2mqtt/t", b'{"temperature":20.5,"last_seen":1700000000123}', CTX)
    assert r.time == utc(2023, 11, 14, 22, 13, 20, 123000)


def test_state_only_message_has_no_readings() -> None:
    assert decode("zigbee2mqtt/lamp", b'{"state":"ON","brightness":254}', CTX) == []


@pytest.mark.parametrize(("topic", "name"), [
    ("zigbee2mqtt/0x54ef441000107069", "0x54ef441000107069"),
    ("zigbee2mqttcc1352/plug_zigbee23", "plug_zigbee23"),
    ("zigbee2mqtt/kitchen/sunset sensor", "kitchen/sunset sensor"),
    ("zigbee2mqtt/bridgeport", "bridgeport"),
])
def test_device_topics(topic: str, name: str) -> None:
    assert FORMAT.matches(topic)
    assert decode(topic, b'{"co2":420}', CTX)[0].sensor_id == f"zigbee2mqtt:{name}"


@pytest.mark.parametrize("topic", [
    "zigbee2mqtt/bridge/state",
    "zigbee2mqtt/bridge/devices",
    "zigbee2mqtt/bridge",
    "zigbee2mqtt/lamp/set",
    "zigbee2mqtt/lamp/set/brightness",
    "zigbee2mqtt/lamp/get",
    "zigbee2mqtt/lamp/availability",
    "zigbee2mqtt",
    "zigbee2mqtt/",
    "zigbee/lamp",
])
def test_not_device_state(topic: str) -> None:
    assert not FORMAT.matches(topic)


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "must be a JSON object"),
    (b'{"power":"3 W"}', "power: '3 W' is not a number"),
    (b'{"temperature":1,"last_seen":"later"}', "not ISO-8601"),
    (b"ON", "invalid JSON"),
])
def test_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("zigbee2mqtt/x", body, CTX)
