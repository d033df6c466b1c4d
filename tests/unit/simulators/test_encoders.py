"""Encoders: the simulated payloads are the vendors' formats (shape of the reference payloads, units,
time formats), and ingest decodes from each exactly the readings the simulator intended (round trip)."""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from ingest.decoders.base import DecodeContext
from ingest.decoders.registry import decode, format_for
from ingest.derived import derive
from models.reading import Reading
from simulators.encoders import (
    Message,
    Sample,
    as_decoded_local,
    crc16_arc,
    dsmr_stamp,
    milesight_frame,
    rfc3339_ns,
)
from simulators.fleet import FORMATS, Fleet, Sensor, load_fleet
from simulators.plan import build_plan

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"
BRUSSELS = ZoneInfo("Europe/Brussels")
FLEET = load_fleet()


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _sensor(fmt: str, kind: str | None = None, model: str | None = None) -> Sensor:
    return next(
        s for s in FLEET.sensors
        if s.format == fmt and (kind is None or s.kind == kind) and (model is None or s.model == model)
    )


def _variants() -> list[tuple[str, str, str]]:
    """Every (format, kind, model-or-empty) the default fleet uses: the round trip covers each."""
    seen: dict[tuple[str, str, str], None] = {}
    for s in FLEET.sensors:
        seen[(s.format, s.kind, s.model if FORMATS[s.format].models else "")] = None
    return list(seen)


def _one(fmt: str, kind: str | None = None, model: str | None = None, when: datetime | None = None) -> list[Message]:
    """The messages of one real plan event of a sensor (values from the signals)."""
    sensor = _sensor(fmt, kind, model)
    start = when or datetime(2026, 11, 24, 8, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=3), seed=5)
    event = next(e for e in plan.events if e.readings)
    return [Message(event.topic, event.payload, event.readings, 0.0)]


def _key(r: Reading) -> tuple[str, str]:
    return r.sensor_id, r.metric


def _decoded(msg: Message, received: datetime, sensor: Sensor) -> list[Reading]:
    depth = sensor.metadata.get("depth_mm")
    ctx = DecodeContext(tz=BRUSSELS, received_at=received,
                        bin_depth_mm={sensor.id: float(depth)} if depth is not None else {})
    return derive(decode(msg.topic, msg.payload, ctx), ctx)


def _assert_same(got: list[Reading], want: tuple[Reading, ...] | list[Reading], where: str) -> None:
    assert sorted(map(_key, got)) == sorted(map(_key, want)), where
    by_key = {_key(r): r for r in want}
    for r in got:
        w = by_key[_key(r)]
        assert math.isclose(r.value, w.value, rel_tol=1e-12, abs_tol=1e-9), f"{where}: {r} != {w}"
        assert r.time == w.time, f"{where}: {r.metric} time {r.time} != {w.time}"


# --- round trip -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "kind", "model"), _variants())
def test_round_trip_every_message_of_a_day(fmt: str, kind: str, model: str) -> None:
    """Every message a sensor of this format publishes in a day (DST-free) decodes to exactly its readings."""
    sensor = _sensor(fmt, kind, model or None)
    start = datetime(2026, 11, 23, 0, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(days=1), seed=11)
    assert plan.events
    with_readings = 0
    for event in plan.events:
        got = _decoded(Message(event.topic, event.payload, event.readings, 0.0), event.publish_time, sensor)
        _assert_same(got, event.readings, f"{fmt} {event.topic} at {event.publish_time}")
        assert {r.sensor_id.split(":l")[0] for r in got} <= {sensor.id}
        with_readings += bool(got)
    # Telraam V1 counts in daylight only (8 h in November); every other device reports every time.
    assert with_readings >= (8 if fmt == "telraam" else len(plan.events))


def test_round_trip_across_the_spring_dst_change() -> None:
    """Local-time formats (Tasmota Time, DSMR YYMMDDhhmmssX) stay exact across 2026-03-29 02:00 -> 03:00."""
    for fmt in ("tasmota", "dsmr"):
        sensor = _sensor(fmt, "energy")
        start = datetime(2026, 3, 28, 22, tzinfo=UTC)
        plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=6), seed=3)
        for event in plan.events:
            msg = Message(event.topic, event.payload, event.readings, 0.0)
            _assert_same(_decoded(msg, event.publish_time, sensor), event.readings, fmt)
            assert all(r.time is not None and abs(r.time.timestamp() - event.measured_at) < 600
                       for r in event.readings)


def test_tasmota_autumn_fold_hour_is_read_as_the_earlier_hour() -> None:
    """Tasmota's zone-less Time cannot tell the two 02:30s of 2026-10-25 apart: the plan states what ingest
    will store (the earlier hour), which is what the decoder does."""
    sensor = _sensor("tasmota", "energy")
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST, the fold is 01:00-02:00 UTC
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=2), seed=3)
    second_pass = [e for e in plan.events if 3600 <= e.measured_at - start.timestamp() < 7200]
    assert second_pass
    for event in second_pass:
        msg = Message(event.topic, event.payload, event.readings, 0.0)
        got = _decoded(msg, event.publish_time, sensor)
        _assert_same(got, event.readings, "fold")
        assert got[0].time is not None
        assert got[0].time.timestamp() == event.measured_at - 3600


def test_dsmr_fold_is_exact_thanks_to_the_s_w_flag() -> None:
    sensor = _sensor("dsmr")
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=2), seed=3)
    for event in plan.events:
        msg = Message(event.topic, event.payload, event.readings, 0.0)
        got = _decoded(msg, event.publish_time, sensor)
        _assert_same(got, event.readings, "dsmr fold")
        main = next(r for r in got if r.metric == "energy_import")
        assert main.time is not None
        assert main.time.timestamp() == event.measured_at


# --- the vendors' shapes ----------------------------------------------------------------------------------------


def _shape(doc: Any) -> Any:
    """Keys (in order), nesting and JSON types; values do not matter."""
    if isinstance(doc, dict):
        return [(k, _shape(v)) for k, v in doc.items()]
    if isinstance(doc, list):
        return ["list", _shape(doc[0]) if doc else None]
    if isinstance(doc, bool):
        return "bool"
    if isinstance(doc, int | float):
        return "number"
    return "null" if doc is None else "str"


@pytest.mark.parametrize(
    ("fmt", "kind", "model", "fixture"),
    [
        ("tasmota", "energy", None, "tasmota__sonoff-pow-r2-energy.json"),
        ("tasmota", "air", None, "own__tasmota-bme280-sds0x1.json"),
        ("shelly-gen2-status", None, None, "shelly-gen2__plus1pm-status-switch0-init.json"),
        ("zigbee2mqtt", None, None, "own__zigbee2mqtt-plug-energy.json"),
        ("sensor-community", None, None, "sensor-community__sds011-bme280-custom-api-push.json"),
        ("ttn", "air", "AM319", "ttn-v3__milesight-am319-air-raw.json"),
        ("ttn", "bin", "EM310-UDL", "ttn-v3__milesight-em310-udl-bin-raw.json"),
        ("chirpstack", "bin", "EM310-UDL", "chirpstack-v4__milesight-em310-udl-bin-raw.json"),
    ],
)
def test_payload_has_the_reference_shape(fmt: str, kind: str | None, model: str | None, fixture: str) -> None:
    ours = orjson.loads(_one(fmt, kind, model)[0].payload)
    assert _shape(ours) == _shape(orjson.loads(_fixture(fixture)))


def test_sensor_community_values_are_strings_and_pressure_is_pascal() -> None:
    msg = _one("sensor-community")[0]
    doc = orjson.loads(msg.payload)
    ref = orjson.loads(_fixture("sensor-community__sds011-bme280-custom-api-push.json"))
    assert [v["value_type"] for v in doc["sensordatavalues"]] == [v["value_type"] for v in ref["sensordatavalues"]]
    assert all(isinstance(v["value"], str) for v in doc["sensordatavalues"])
    pressure = next(float(v["value"]) for v in doc["sensordatavalues"] if v["value_type"] == "BME280_pressure")
    assert 95_000 < pressure < 105_000
    assert msg.payload.startswith(b'{"esp8266id": "')  # the firmware's own spacing
    assert msg.topic == f"airrohr/{_sensor('sensor-community').device}"


def test_shelly_gen2_rpc_is_a_notifystatus_with_epoch_ts() -> None:
    doc = orjson.loads(_one("shelly-gen2-rpc")[0].payload)
    ref = orjson.loads(_fixture("shelly-gen2__plus1pm-events-rpc-notifystatus-aenergy-delta.json"))
    assert [k for k, _ in _shape(doc)] == [k for k, _ in _shape(ref)]
    assert doc["method"] == "NotifyStatus"
    assert isinstance(doc["params"]["ts"], float)
    assert set(ref["params"]["switch:0"]) <= set(doc["params"]["switch:0"])
    assert set(ref["params"]["switch:0"]["aenergy"]) == set(doc["params"]["switch:0"]["aenergy"])


def test_shelly_gen2_status_keeps_the_firmware_spacing_and_wh() -> None:
    msg = _one("shelly-gen2-status")[0]
    assert msg.payload.startswith(b'{"id":0, "source":')
    doc = orjson.loads(msg.payload)
    energy = next(r for r in msg.readings if r.metric == "energy_import")
    assert math.isclose(doc["aenergy"]["total"] / 1000.0, energy.value)  # Wh on the wire, kWh stored
    assert all(r.time is None for r in msg.readings)  # no time in the payload: ingest stamps receipt


def test_shelly_gen1_is_two_bare_numbers_with_watt_minutes() -> None:
    sensor = _sensor("shelly-gen1")
    start = datetime(2026, 11, 24, 8, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(minutes=30), seed=5)
    topics = {e.topic: e for e in plan.events}
    power = topics[f"shellies/{sensor.device}/relay/0/power"]
    energy = topics[f"shellies/{sensor.device}/relay/0/energy"]
    assert re.fullmatch(rb"\d+\.\d\d", power.payload)
    assert re.fullmatch(rb"\d+", energy.payload)
    assert math.isclose(int(energy.payload) / 60000.0, energy.readings[0].value)


def test_tasmota_time_is_local_without_zone() -> None:
    sensor = _sensor("tasmota", "energy")
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=1), seed=5)
    event = plan.events[0]
    doc = orjson.loads(event.payload)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", doc["Time"])
    local = datetime.fromtimestamp(event.measured_at, BRUSSELS)
    assert doc["Time"] == local.strftime("%Y-%m-%dT%H:%M:%S")  # 12:xx CEST for 10:xx UTC
    assert re.search(rb'"Yesterday":\d+\.\d{3},', event.payload)  # fixed decimals, as the firmware prints


def test_dsmr_telegram_is_fluvius_with_valid_crc() -> None:
    sensor = _sensor("dsmr")
    msg = _one("dsmr")[0]
    text = msg.payload
    assert text.startswith(b"/FLU5\\")
    assert text.endswith(b"\r\n")
    body, crc = text[: text.rindex(b"!") + 1], text[text.rindex(b"!") + 1 :].strip()
    assert int(crc, 16) == crc16_arc(body)
    assert re.search(rb"0-0:1\.0\.0\(\d{12}[SW]\)", text)
    assert bytes.fromhex(re.search(rb"0-0:96\.1\.1\(([0-9A-F]+)\)", text)[1].decode()).decode() == sensor.device  # type: ignore[index]
    assert b"0-1:24.2.3(" in text  # Belgian gas register


def test_dsmr_uses_only_obis_codes_of_the_fluvius_reference() -> None:
    def codes(telegram: bytes) -> set[str]:
        lines = telegram.decode("ascii").split("\r\n")
        return {line.split("(", 1)[0] for line in lines if "(" in line}

    three_phase = next(
        s for s in FLEET.sensors if s.format == "dsmr" and s.meta("phases", 1) == 3 and s.meta("gas", False)
    )
    start = datetime(2026, 11, 24, 8, tzinfo=UTC)
    event = build_plan(Fleet((three_phase,)), start, start + timedelta(hours=1), seed=5).events[0]
    reference = codes(_fixture("dsmr-p1__be-fluvius-v171-telegram.txt"))
    assert codes(event.payload) == {c for c in reference if not c.startswith("0-2:")}  # no water meter


def test_crc16_arc_matches_the_reference_telegram() -> None:
    telegram = _fixture("dsmr-p1__be-fluvius-v171-telegram.txt")
    body = telegram[: telegram.rindex(b"!") + 1]
    assert f"{crc16_arc(body):04X}".encode() == telegram[telegram.rindex(b"!") + 1 :].strip()


def test_dsmr_stamp_marks_summer_and_winter() -> None:
    assert dsmr_stamp(int(datetime(2023, 11, 2, 11, 15, 48, tzinfo=UTC).timestamp()), BRUSSELS) == "231102121548W"
    assert dsmr_stamp(int(datetime(2023, 10, 29, 0, 30, tzinfo=UTC).timestamp()), BRUSSELS) == "231029023000S"
    assert dsmr_stamp(int(datetime(2023, 10, 29, 1, 30, tzinfo=UTC).timestamp()), BRUSSELS) == "231029023000W"


def _frame_sample(model: str, values: dict[str, float], u: list[float]) -> Sample:
    sensor = _sensor("ttn", None, model)
    return Sample(sensor, 1_684_474_415, 10335, values, u)


def test_milesight_em310_frame_is_byte_exact() -> None:
    frame, readings = milesight_frame(_frame_sample("EM310-UDL", {"battery": 92, "distance": 2116, "tilted": 1},
                                                    [0.0] * 8))
    assert base64.b64encode(frame) == b"AXVcA4JECAQAAQ=="  # the reference uplink's frm_payload
    assert dict(readings) == {"battery": 92.0, "distance": 2116.0, "tilted": 1.0}


def test_milesight_am319_frame_is_byte_exact() -> None:
    values = {"battery": 85, "temperature": 23.8, "humidity": 62.0, "co2": 936, "tvoc": 37, "pressure": 1008.6,
              "hcho": 0.04, "pm25": 32, "pm10": 48}
    frame, readings = milesight_frame(_frame_sample("AM319", values, [0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.5, 0.0]))
    reference = orjson.loads(_fixture("ttn-v3__milesight-am319-air-raw.json"))["uplink_message"]["frm_payload"]
    assert base64.b64encode(frame).decode() == reference
    assert dict(readings)["pressure"] == 1008.6
    assert dict(readings)["temperature"] == 23.8


def test_ttn_times_are_rfc3339_with_nanoseconds() -> None:
    msg = _one("ttn", "bin")[0]
    doc = orjson.loads(msg.payload)
    ns = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    assert re.fullmatch(ns, doc["received_at"])
    assert re.fullmatch(ns, doc["uplink_message"]["received_at"])
    assert re.fullmatch(r".*\.\d{6}Z", doc["uplink_message"]["rx_metadata"][0]["time"])
    assert base64.b64decode(doc["uplink_message"]["frm_payload"])[:2] == b"\x01\x75"
    assert msg.topic == f"v3/citysense-leuven@ttn/devices/{_sensor('ttn', 'bin').device}/up"


def test_rfc3339_ns_keeps_nanoseconds_and_reads_back_to_the_microsecond() -> None:
    text, when = rfc3339_ns(1_684_474_415, 848_446_463)
    assert text == "2023-05-19T05:33:35.848446463Z"
    assert when == datetime(2023, 5, 19, 5, 33, 35, 848446, tzinfo=UTC)


def test_bins_carry_the_derived_fill_level() -> None:
    msg = _one("chirpstack", "bin")[0]
    sensor = _sensor("chirpstack", "bin")
    depth = float(sensor.metadata["depth_mm"])
    distance = next(r.value for r in msg.readings if r.metric == "distance")
    fill = next(r.value for r in msg.readings if r.metric == "fill_level")
    assert fill == pytest.approx(max(0.0, min(100.0, (depth - distance) / depth * 100.0)))


def test_telraam_report_has_the_reference_item_keys_and_float_counts() -> None:
    sensor = _sensor("telraam")
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)  # daylight: a V1 counts
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=3), seed=5)
    event = plan.events[0]
    doc = orjson.loads(event.payload)
    ref = orjson.loads(_fixture("telraam__api-v1-reports-traffic-segment348917-leuven.json"))
    assert list(doc) == list(ref)[: len(doc)]
    assert list(doc["report"][0]) == list(ref["report"][0])
    item = doc["report"][0]
    assert isinstance(item["bike"], float)
    assert item["date"].endswith(".000Z")
    assert len(item["car_speed_hist_0to70plus"]) == 8
    assert len(item["car_speed_hist_0to120plus"]) == 25
    assert sum(item["car_speed_hist_0to120plus"]) == pytest.approx(100.0, abs=1e-6)
    assert event.topic == f"telraam/{sensor.device}/traffic"
    assert event.publish_at >= datetime.fromisoformat(item["date"]).timestamp() + 3600  # after the hour


def test_telraam_v1_night_hours_have_zero_uptime_and_no_counts() -> None:
    sensor = next(s for s in FLEET.sensors if s.format == "telraam" and s.model == "Telraam V1")
    start = datetime(2026, 12, 10, 0, tzinfo=UTC)
    plan = build_plan(Fleet((sensor,)), start, start + timedelta(hours=5), seed=5)
    night = [e for e in plan.events if datetime.fromtimestamp(e.measured_at, UTC).hour < 5]
    assert night
    for event in night:
        assert orjson.loads(event.payload)["report"][0]["uptime"] == 0
        assert [(r.metric, r.value) for r in event.readings] == [("uptime", 0.0)]
        decoded = _decoded(Message(event.topic, event.payload, (), 0.0), event.publish_time, sensor)
        assert [(r.metric, r.value) for r in decoded] == [("uptime", 0.0)]


def test_senml_pack_names_the_sensor_with_its_base_name() -> None:
    msg = _one("senml", "air")[0]
    pack = orjson.loads(msg.payload)
    sensor = _sensor("senml", "air")
    assert pack[0]["bn"] == sensor.device + ":"
    assert isinstance(pack[0]["bt"], int)
    assert {rec["n"] for rec in pack} >= {"pm25", "pm10", "no2"}
    assert format_for(msg.topic).name == "senml"


def test_as_decoded_local_takes_the_earlier_hour_of_the_fold() -> None:
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(BRUSSELS)  # 02:30 CET (after the fold)
    assert as_decoded_local(second, BRUSSELS) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
