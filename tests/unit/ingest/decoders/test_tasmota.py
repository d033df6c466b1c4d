from __future__ import annotations

import orjson
import pytest

from ingest.decoders.tasmota import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc


def test_sonoff_pow_r2_energy_in_local_time() -> None:
    t = utc(2018, 2, 15, 16, 37, 10)  # 17:37:10 CET
    assert_readings(decode("tele/pow1/SENSOR", payload("tasmota__sonoff-pow-r2-energy.json"), CTX), [
        ("tasmota:pow1", "energy_import", 6.294, t),
        ("tasmota:pow1", "power", 2635, t),
        ("tasmota:pow1", "apparent_power", 2650, t),
        ("tasmota:pow1", "reactive_power", 282, t),
        ("tasmota:pow1", "power_factor", 0.99, t),
        ("tasmota:pow1", "voltage", 227, t),
        ("tasmota:pow1", "current", 11.661, t),
    ])


def test_teleinfo_custom_fulltopic_drops_tic_and_chip_temperature() -> None:
    topic = "emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR"
    t = utc(2021, 10, 26, 15, 28, 45)  # 17:28:45 CEST
    assert_readings(decode(topic, payload("tasmota__teleinfo-energy-period-space.json"), CTX), [
        ("tasmota:denky_D6C0C0", "energy_import", 9098.245, t),
        ("tasmota:denky_D6C0C0", "power", 170, t),
        ("tasmota:denky_D6C0C0", "current", 1.0, t),
    ])


def test_energy_plug() -> None:
    t = utc(2024, 3, 12, 7, 15, 2)
    s = "tasmota:sonoff_desk"
    assert_readings(decode("tele/sonoff_desk/SENSOR", payload("own__tasmota-energy-plug.json"), CTX), [
        (s, "energy_import", 1287.406, t),
        (s, "power", 148, t),
        (s, "apparent_power", 201, t),
        (s, "reactive_power", 136, t),
        (s, "power_factor", 0.74, t),
        (s, "voltage", 231, t),
        (s, "current", 0.871, t),
    ])


def test_bme280_pretty_printed() -> None:
    t = utc(2019, 11, 3, 18, 34, 28)
    assert_readings(decode("tele/tasmota/SENSOR", payload("tasmota__bme280-pretty.json"), CTX), [
        ("tasmota:tasmota", "temperature", 21.7, t),
        ("tasmota:tasmota", "humidity", 66.6, t),
        ("tasmota:tasmota", "pressure", 988.6, t),
    ])


def test_bme680_gas_resistance_and_dew_point_are_not_readings() -> None:
    t = utc(2021, 9, 22, 15, 0, 0)
    assert_readings(decode("tele/tasmota/SENSOR", payload("tasmota__bme680-pretty.json"), CTX), [
        ("tasmota:tasmota", "temperature", 24.5, t),
        ("tasmota:tasmota", "humidity", 33.0, t),
        ("tasmota:tasmota", "pressure", 987.7, t),
    ])


def test_scd40_co2_without_eco2() -> None:
    t = utc(2024, 1, 1, 9, 31, 9)
    assert_readings(decode("tele/tasmota/SENSOR", payload("tasmota__scd40-co2.json"), CTX), [
        ("tasmota:tasmota", "co2", 1204, t),
        ("tasmota:tasmota", "temperature", 28.8, t),
        ("tasmota:tasmota", "humidity", 47.5, t),
    ])


def test_scd30_fahrenheit_converted_and_raw_adc_dropped() -> None:
    t = utc(2022, 12, 5, 12, 9, 7)
    assert_readings(decode("tele/snifferbuddy/SENSOR", payload("tasmota__scd30-co2-fahrenheit.json"), CTX), [
        ("tasmota:snifferbuddy", "co2", 544, t),
        ("tasmota:snifferbuddy", "temperature", (71.1 - 32) * 5 / 9, t),
        ("tasmota:snifferbuddy", "humidity", 45.7, t),
    ])


def test_sds0x1_dotted_pm25_key_and_implausible_values_kept() -> None:
    t = utc(2024, 3, 12, 7, 17, 5)
    s = "tasmota:node_mcu_terrace"
    assert_readings(decode("tele/node_mcu_terrace/SENSOR", payload("own__tasmota-bme280-sds0x1.json"), CTX), [
        (s, "temperature", 9.4, t),
        (s, "humidity", 81.2, t),
        (s, "pressure", 1012.3, t),
        (s, "pm25", 14.2, t),  # larger than PM10: as measured, not swapped
        (s, "pm10", 9.6, t),
    ])


def test_sml_script_object_without_units_is_rejected() -> None:
    with pytest.raises(DecodeError, match='script object "" has no units'):
        decode("tele/hichi/SENSOR", payload("own__tasmota-sml-script-empty-key.json"), CTX)


def test_sml_script_object_is_ignored_next_to_real_readings() -> None:
    doc = {"Time": "2024-03-12T08:16:40", "": {"total": 4821733.2}, "ENERGY": {"Power": 12}}
    assert_readings(decode("tele/hichi/SENSOR", orjson.dumps(doc), CTX), [
        ("tasmota:hichi", "power", 12, utc(2024, 3, 12, 7, 16, 40)),
    ])


@pytest.mark.parametrize(("unit", "raw", "hpa"), [
    ("hPa", 1013.2, 1013.2),
    ("mmHg", 760.0, 1013.25),
    ("inHg", 29.92, 1013.21),
])
def test_pressure_units(unit: str, raw: float, hpa: float) -> None:
    doc = {"BME280": {"Pressure": raw}, "PressureUnit": unit}
    (r,) = decode("tele/x/SENSOR", orjson.dumps(doc), CTX)
    assert (r.metric, r.time) == ("pressure", None)
    assert r.value == pytest.approx(hpa, abs=0.01)


def test_unknown_units_are_rejected() -> None:
    with pytest.raises(DecodeError, match="unknown PressureUnit 'psi'"):
        decode("tele/x/SENSOR", b'{"BME280":{"Pressure":14.7},"PressureUnit":"psi"}', CTX)
    with pytest.raises(DecodeError, match="unknown TempUnit 'R'"):
        decode("tele/x/SENSOR", b'{"DS18B20":{"Temperature":500},"TempUnit":"R"}', CTX)


def test_no_time_means_receive_time() -> None:
    (r,) = decode("tele/x/SENSOR", b'{"DS18B20":{"Id":"0316","Temperature":4.5}}', CTX)
    assert r == ("tasmota:x", "temperature", 4.5, None)


def test_local_time_in_the_autumn_fold_takes_the_first_hour() -> None:
    (r,) = decode("tele/x/SENSOR", b'{"Time":"2023-10-29T02:30:00","DS18B20":{"Temperature":4.5}}', CTX)
    assert r.time == utc(2023, 10, 29, 0, 30)


def test_time_with_offset() -> None:
    (r,) = decode("tele/x/SENSOR", b'{"Time":"2024-01-01T10:00:00+01:00","SCD40":{"CarbonDioxide":400}}', CTX)
    assert r.time == utc(2024, 1, 1, 9, 0)


def test_two_sensors_of_one_kind_get_sub_sensors() -> None:
    doc = {"DS18B20-1": {"Temperature": 4.5}, "DS18B20-2": {"Temperature": 19.25}, "AM2301": {"Humidity": 40}}
    assert_readings(decode("tele/cellar/SENSOR", orjson.dumps(doc), CTX), [
        ("tasmota:cellar", "temperature", 4.5, None),
        ("tasmota:cellar:DS18B20-2", "temperature", 19.25, None),
        ("tasmota:cellar", "humidity", 40, None),
    ])


def test_multi_phase_energy_arrays() -> None:
    doc = {"ENERGY": {"Total": 12.5, "Power": [100, 200, 50], "Voltage": [230, 231, 229], "Factor": [1, 0.9, 0.8]}}
    s = "tasmota:sdm630"
    assert_readings(decode("tele/sdm630/SENSOR", orjson.dumps(doc), CTX), [
        (s, "energy_import", 12.5, None),
        (s, "power", 350, None),
        (s + ":l1", "power", 100, None),
        (s + ":l2", "power", 200, None),
        (s + ":l3", "power", 50, None),
        (s + ":l1", "voltage", 230, None),
        (s + ":l2", "voltage", 231, None),
        (s + ":l3", "voltage", 229, None),
        (s + ":l1", "power_factor", 1, None),
        (s + ":l2", "power_factor", 0.9, None),
        (s + ":l3", "power_factor", 0.8, None),
    ])


def test_export_counter() -> None:
    doc = {"ENERGY": {"Total": 812.1, "ExportActive": 1204.7}}
    assert_readings(decode("tele/pv/SENSOR", orjson.dumps(doc), CTX), [
        ("tasmota:pv", "energy_import", 812.1, None),
        ("tasmota:pv", "energy_export", 1204.7, None),
    ])


def test_chip_temperature_only_has_no_readings() -> None:
    assert decode("tele/x/SENSOR", b'{"Time":"2024-01-01T00:00:00","ESP32":{"Temperature":51.1}}', CTX) == []


@pytest.mark.parametrize(("topic", "sensor"), [
    ("tele/pow1/SENSOR", "tasmota:pow1"),
    ("home/tele/pow1/SENSOR", "tasmota:pow1"),
    ("emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR", "tasmota:denky_D6C0C0"),
    ("pow1/tele/SENSOR", "tasmota:pow1"),
])
def test_fulltopic_shapes(topic: str, sensor: str) -> None:
    assert FORMAT.matches(topic)
    (r,) = decode(topic, b'{"ENERGY":{"Power":1}}', CTX)
    assert r.sensor_id == sensor


@pytest.mark.parametrize("topic", ["tele/SENSOR", "tele/pow1/STATE", "stat/pow1/SENSOR", "tele/a/b/SENSOR/x"])
def test_other_topics_do_not_match(topic: str) -> None:
    assert not FORMAT.matches(topic)


@pytest.mark.parametrize(("body", "message"), [
    (b"[1,2]", "must be a JSON object"),
    (b"{", "invalid JSON"),
    (b'{"Time":17,"X":{}}', "Time 17 is not a timestamp"),
    (b'{"Time":"yesterday"}', "not ISO-8601"),
    (b'{"ENERGY":{"Power":"high"}}', "ENERGY.Power: 'high' is not a number"),
])
def test_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("tele/x/SENSOR", body, CTX)
