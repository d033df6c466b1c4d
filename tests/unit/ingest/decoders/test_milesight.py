from __future__ import annotations

import pytest

from ingest.decoders.milesight import decode
from ingest.errors import DecodeError


def test_em310_udl_bin_sensor() -> None:
    assert decode(bytes.fromhex("01755C038244080400 01".replace(" ", ""))) == {
        "battery": 92.0, "distance": 2116.0, "tilted": 1.0,
    }


def test_am319_air_drops_pir_light_tvoc_hcho_and_buzzer() -> None:
    data = bytes.fromhex("017555" "0367EE00" "04687C" "050001" "06CB02" "077DA803" "087D2500"
                         "09736627" "0A7D0400" "0B7D2000" "0C7D3000" "0E0155")
    assert decode(data) == {
        "battery": 85.0, "temperature": 23.8, "humidity": 62.0, "co2": 936.0,
        "pressure": 1008.6, "pm25": 32.0, "pm10": 48.0,
    }


def test_negative_temperature_and_half_percent_humidity() -> None:
    assert decode(bytes.fromhex("017561" "0367E8FF" "04686F")) == {"battery": 97.0, "temperature": -2.4,
                                                                   "humidity": 55.5}


def test_device_information_after_join_is_skipped() -> None:
    data = bytes.fromhex("FF0101" "FF090110" "FF0A0114" "FF0F00" "FF166790D19284720016" "FFFE01" "FF0B01"
                         "017564")
    assert decode(data) == {"battery": 100.0}


def test_empty_frame() -> None:
    assert decode(b"") == {}


@pytest.mark.parametrize(("hexdata", "message"), [
    ("017564" "2A99", "unknown channel 0x2a type 0x99 at byte 3"),
    ("0382", "channel 0x03 type 0x82 needs 2 bytes at byte 2, has 0"),
    ("017564" "03", "truncated entry at byte 3"),
    ("040002", "position byte 0x02 is neither"),
    ("20CE0000000000", "unknown channel 0x20 type 0xce"),  # history records differ per model
])
def test_undecodable(hexdata: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode(bytes.fromhex(hexdata))
