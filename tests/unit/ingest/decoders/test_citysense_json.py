from __future__ import annotations

import pytest

from ingest.decoders.citysense_json import FORMAT, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, utc


def test_object_with_utc_time() -> None:
    body = b'{"time":"2026-11-26T10:00:00Z","readings":{"power":120.5,"voltage":230.1}}'
    assert_readings(decode("citysense/json/meter-1", body, CTX), [
        ("citysense:meter-1", "power", 120.5, utc(2026, 11, 26, 10)),
        ("citysense:meter-1", "voltage", 230.1, utc(2026, 11, 26, 10)),
    ])


def test_array_local_time_epoch_no_time_and_sensor_override() -> None:
    body = (b'[{"time":"2024-07-01T12:00:00","readings":{"temperature":25}},'
            b' {"time":1700000000,"readings":{"co2":415}},'
            b' {"sensor_id":"citysense:other","readings":{"humidity":40}}]')
    assert_readings(decode("citysense/json/dev", body, CTX), [
        ("citysense:dev", "temperature", 25, utc(2024, 7, 1, 10)),  # CEST
        ("citysense:dev", "co2", 415, utc(2023, 11, 14, 22, 13, 20)),
        ("citysense:other", "humidity", 40, None),
    ])


@pytest.mark.parametrize(("body", "message"), [
    (b'{"readings":{"speed":3}}', "unknown metric 'speed'"),
    (b'{"readings":{}}', "'readings' must be a non-empty object"),
    (b'{"readings":{"power":"x"}}', "object 0 power: 'x' is not a number"),
    (b'{"time":true,"readings":{"power":1}}', "object 0 time: True is not a number"),
    (b'{"time":"0001-01-01T00:00:00","readings":{"power":1}}', "out of range"),
    (b'{"sensor_id":"","readings":{"power":1}}', "sensor_id must be a non-empty string"),
    (b"[3]", "object 0: not a JSON object"),
])
def test_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("citysense/json/dev", body, CTX)


def test_topics() -> None:
    assert FORMAT.matches("citysense/json/dev")
    assert not FORMAT.matches("citysense/json/a/b")
