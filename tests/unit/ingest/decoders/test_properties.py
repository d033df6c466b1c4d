"""Whatever arrives on a format's topic, its decoder returns readings or raises Rejected: nothing else.

Ingest must never die on a payload, and a reading must always be storable as it
is: a float value and a UTC time (or None).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decoders.base import Format
from ingest.decoders.dsmr import crc16
from ingest.decoders.registry import FORMATS, decode
from ingest.errors import Rejected
from models.metrics import METRICS
from models.reading import Reading
from tests.unit.ingest.decoders.helpers import CTX

# One topic per registered format that its pattern accepts.
TOPICS: dict[str, str] = {
    "senml": "citysense/senml/dev1",
    "citysense-json": "citysense/json/dev1",
    "tasmota": "tele/pow1/SENSOR",
    "shelly-gen1": "shellies/plug/relay/0/power",
    "dsmr": "dsmr/raw",
    "sensor.community": "airrohr/esp8266-1",
    "ttn-v3": "v3/app@ttn/devices/dev1/up",
    "chirpstack-v4": "application/1/device/0101010101010101/event/up",
    "telraam": "telraam/348917/traffic",
    "zigbee2mqtt": "zigbee2mqtt/plug",
    "shelly-gen2": "shellyplus1pm-a8/events/rpc",
}
EXTRA_TOPICS = [
    ("shelly-gen1", "shellies/plug/relay/0/energy"),
    ("shelly-gen1", "shellies/em3/emeter/1/total"),
    ("shelly-gen2", "shellypro3em-ab/status/em:0"),
    ("shelly-gen2", "shellypro3em-ab/status/emdata:0"),
    ("shelly-gen2", "shellyplus1pm-a8/status/switch:0"),
    ("tasmota", "emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR"),
]
ALL_TOPICS = [*TOPICS.items(), *EXTRA_TOPICS]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(["", "0.40", "-1e308", "1e308", "nan", "2023-10-29T02:30:00", "normal", "tilt",
                     "AXVcA4JECAQAAQ==", "NotifyStatus", "NotifyFullStatus", "170102192002W"]),
)
KEYS = st.sampled_from([
    "Time", "ENERGY", "Total", "Power", "Voltage", "Factor", "TempUnit", "PressureUnit", "BME280", "Temperature",
    "Pressure", "PM2.5", "", "method", "params", "ts", "switch:0", "em:0", "emdata:0", "temperature:0",
    "devicepower:0", "battery", "percent", "aenergy", "total", "apower", "a_voltage", "a_freq", "total_act",
    "sensordatavalues", "value_type", "value", "SDS_P1", "BME280_pressure", "timestamp", "sensor", "id",
    "uplink_message", "decoded_payload", "frm_payload", "f_port", "received_at", "rx_metadata", "time",
    "object", "data", "fPort", "report", "date", "uptime", "bike", "segment_id", "last_seen", "voltage",
    "power", "energy", "current_tier1_summ_delivered", "position", "readings", "sensor_id", "bn", "bt",
    "bu", "bv", "n", "u", "v", "t",
]) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


def _dumps(doc: Any) -> bytes:
    # The standard library, not orjson: it writes integers beyond 64 bits, which devices can send.
    return json.dumps(doc).encode()


def _check(fmt: Format, topic: str, payload: bytes) -> None:
    try:
        readings = fmt.decode(topic, payload, CTX)
    except Rejected:
        return
    assert isinstance(readings, list)
    for r in readings:
        assert isinstance(r, Reading)
        assert isinstance(r.sensor_id, str)
        assert r.sensor_id
        assert r.metric in METRICS
        assert isinstance(r.value, float)
        assert r.time is None or r.time.utcoffset() == UTC.utcoffset(None)


def _format(name: str) -> Format:
    return next(f for f in FORMATS if f.name == name)


def test_every_registered_format_has_a_test_topic() -> None:
    assert {f.name for f in FORMATS} == set(TOPICS)
    for name, topic in ALL_TOPICS:
        assert _format(name).matches(topic), topic


@pytest.mark.parametrize(("name", "topic"), ALL_TOPICS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(name: str, topic: str, data: bytes) -> None:
    _check(_format(name), topic, data)


@pytest.mark.parametrize(("name", "topic"), ALL_TOPICS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=json_values)
def test_arbitrary_json(name: str, topic: str, doc: Any) -> None:
    _check(_format(name), topic, _dumps(doc))


# Shapes that get past each format's first checks, so the inner code sees arbitrary values.
SHAPES: dict[str, Any] = {
    "tasmota": lambda v: {"Time": "2024-01-01T00:00:00", "ENERGY": v, "BME280": v, "": v, "TempUnit": "F"},
    "shelly-gen2": lambda v: {"method": "NotifyStatus", "params": {"ts": 1.7e9, "switch:0": v, "em:0": v,
                                                                   "emdata:0": v, "devicepower:0": v}},
    "sensor.community": lambda v: {"sensordatavalues": [{"value_type": "SDS_P1", "value": v}, v]},
    "ttn-v3": lambda v: {"received_at": "2024-01-01T00:00:00Z",
                         "uplink_message": {"decoded_payload": v, "f_port": 85, "frm_payload": "AXVc"}},
    "chirpstack-v4": lambda v: {"time": "2024-01-01T00:00:00Z", "object": v, "fPort": 85},
    "telraam": lambda v: {"report": [v, {"date": "2020-10-30T07:00:00Z", "bike": v}]},
    "zigbee2mqtt": lambda v: v if isinstance(v, dict) else {"power": v, "battery": v, "last_seen": v},
    "senml": lambda v: [v, {"bn": "x:", "n": "temperature", "v": 1, "u": v}, {"n": "power", "t": v, "v": 1}],
    "citysense-json": lambda v: {"time": v, "readings": v},
}
SHAPED = [(name, TOPICS[name]) for name in SHAPES] + [
    ("shelly-gen2", "shellypro3em-ab/status/em:0"),
]


@pytest.mark.parametrize(("name", "topic"), SHAPED)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | st.dictionaries(KEYS, json_scalars, max_size=10))
def test_arbitrary_values_in_plausible_shapes(name: str, topic: str, value: Any) -> None:
    shape = SHAPES.get(name) if not topic.endswith("em:0") else (lambda v: v)
    assert shape is not None
    _check(_format(name), topic, _dumps(shape(value)))


obis_lines = st.lists(
    st.tuples(
        st.sampled_from(["0-0:1.0.0", "0-0:96.1.1", "1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.0", "1-0:1.7.0",
                         "1-0:22.7.0", "1-0:32.7.0", "1-0:31.7.0", "0-1:24.1.0", "0-1:24.2.1", "0-2:24.2.3",
                         "0-1:24.3.0", "1-3:0.2.8"]),
        st.lists(st.text(st.sampled_from("0123456789.*kWhmV3ASW-:()"), max_size=16), min_size=1, max_size=3),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(lines=obis_lines, with_crc=st.booleans())
def test_dsmr_arbitrary_telegrams_with_valid_crc(lines: list[tuple[str, list[str]]], with_crc: bool) -> None:
    text = "/XMX5\\fuzz\r\n\r\n" + "".join(f"{obis}({')('.join(groups)})\r\n" for obis, groups in lines) + "!"
    body = text.encode()
    telegram = body + (f"{crc16(body):04X}".encode() if with_crc else b"") + b"\r\n"
    _check(_format("dsmr"), "dsmr/raw", telegram)


@settings(max_examples=400, deadline=None)
@given(frame=st.binary(max_size=40))
def test_milesight_arbitrary_frames(frame: bytes) -> None:
    import base64

    doc = {"uplink_message": {"f_port": 85, "frm_payload": base64.b64encode(frame).decode()}}
    _check(_format("ttn-v3"), "v3/a/devices/d/up", _dumps(doc))


topic_levels = st.sampled_from(["tele", "SENSOR", "status", "events", "rpc", "switch:0", "shellies", "relay", "0",
                                "power", "dsmr", "airrohr", "v3", "devices", "up", "application", "device",
                                "event", "telraam", "traffic", "zigbee2mqtt", "bridge", "set", "citysense",
                                "senml", "json", "emeter", "total", ""]) | st.text(max_size=6)


@settings(max_examples=300, deadline=None)
@given(levels=st.lists(topic_levels, min_size=1, max_size=7), body=st.binary(max_size=60) | json_values.map(_dumps))
def test_registry_any_topic_any_payload(levels: list[str], body: bytes) -> None:
    try:
        readings = decode("/".join(levels), body, CTX)
    except Rejected:
        return
    assert all(isinstance(r, Reading) and isinstance(r.value, float) for r in readings)
