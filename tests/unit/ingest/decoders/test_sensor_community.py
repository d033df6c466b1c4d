from __future__ import annotations

import orjson
import pytest

from ingest.decoders.sensor_community import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc


def test_firmware_push_strings_p1_is_pm10_and_pressure_in_pa() -> None:
    s = "sensor.community:esp8266-12331981"
    got = decode("airrohr/esp8266-12331981", payload("sensor-community__sds011-bme280-custom-api-push.json"), CTX)
    assert_readings(got, [
        (s, "pm10", 0.40, None),
        (s, "pm25", 0.20, None),
        (s, "temperature", 20.47, None),
        (s, "pressure", 1006.1325, None),
        (s, "humidity", 69.02, None),
    ])


def test_push_without_id_is_named_by_the_topic() -> None:
    s = "sensor.community:esp8266-9912"
    got = decode("airrohr/esp8266-9912", payload("sensor-community__dht22-debuglog-no-id.json"), CTX)
    assert_readings(got, [(s, "temperature", 35.20, None), (s, "humidity", 45.30, None)])


def test_api_v1_records_are_utc_without_a_zone_marker() -> None:
    got = decode("airrohr/api", payload("own__sensor-community-api-v1-records.json"), CTX)
    t1, t2, t3 = utc(2024, 3, 31, 0, 59, 30), utc(2024, 3, 31, 2, 30), utc(2024, 3, 31, 2, 31, 40)
    assert_readings(got, [
        ("sensor.community:80123", "pm10", 12.70, t1),
        ("sensor.community:80123", "pm25", 8.05, t1),
        ("sensor.community:80124", "temperature", 7.31, t2),  # 02:30 does not exist in Brussels: UTC it is
        ("sensor.community:80124", "pressure", 1013.225, t2),  # pressure_at_sealevel is not a reading
        ("sensor.community:80124", "humidity", 86.12, t2),
        ("sensor.community:80125", "humidity", 88.40, t3),
        ("sensor.community:80125", "temperature", 6.90, t3),
    ])


def test_single_api_record() -> None:
    record = {"timestamp": "2019-04-25 01:51:12", "sensor": {"id": 2129},
              "sensordatavalues": [{"value": "19.13", "value_type": "P1"}]}
    assert_readings(decode("airrohr/api", orjson.dumps(record), CTX),
                    [("sensor.community:2129", "pm10", 19.13, utc(2019, 4, 25, 1, 51, 12))])


def test_pm1_and_two_sensors_for_one_quantity() -> None:
    push = {"esp8266id": "1", "sensordatavalues": [
        {"value_type": "PMS_P0", "value": "3.00"},
        {"value_type": "temperature", "value": "21.00"},
        {"value_type": "BME280_temperature", "value": "20.50"},
        {"value_type": "GPS_lat", "value": "50.87"},
        {"value_type": "SPS30_P4", "value": "9.9"},
    ]}
    assert_readings(decode("airrohr/esp32-1", orjson.dumps(push), CTX), [
        ("sensor.community:esp32-1", "pm1", 3.0, None),
        ("sensor.community:esp32-1", "temperature", 21.0, None),
        ("sensor.community:esp32-1:bme280", "temperature", 20.5, None),
    ])


def test_only_diagnostics_means_no_readings() -> None:
    push = {"sensordatavalues": [{"value_type": "signal", "value": "-70"}, {"value_type": "samples", "value": "1"}]}
    assert decode("airrohr/esp8266-1", orjson.dumps(push), CTX) == []


@pytest.mark.parametrize(("body", "message"), [
    (b'{"esp8266id":"1"}', "no 'sensordatavalues'"),
    (b'{"sensordatavalues":{}}', "must be an array"),
    (b'{"sensordatavalues":[{"value":"1"}]}', r"sensordatavalues\[0\] must be an object with a value_type"),
    (b'{"sensordatavalues":[{"value_type":"SDS_P1","value":"n/a"}]}', "push SDS_P1: 'n/a' is not a number"),
    (b'[{"timestamp":"2019-04-25 01:51:12","sensor":{},"sensordatavalues":[]}]', "record 0: no sensor.id"),
    (b'[{"sensor":{"id":1},"sensordatavalues":[]}]', "record 0: no timestamp"),
    (b'[{"timestamp":"soon","sensor":{"id":1},"sensordatavalues":[]}]', "not ISO-8601"),
    (b'"hello"', "must be a JSON object or an array"),
])
def test_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("airrohr/x", body, CTX)


def test_topics() -> None:
    assert FORMAT.matches("airrohr/esp8266-12331981")
    assert not FORMAT.matches("airrohr/esp8266-1/extra")
