from __future__ import annotations

from datetime import datetime

import pytest

from ingest.decoders.dsmr import FORMAT, crc16, decode
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, Row, assert_readings, payload, utc

NL = "dsmr:K8EG004046395507"  # 0-0:96.1.1 4B38… hex-decoded
BE = "dsmr:1SAG3100721326"
BE_OWN = "dsmr:1SAG3200012345"


def _phases(sensor: str, t: datetime | None, powers: tuple[float, ...], volts: tuple[float, ...],
            amps: tuple[float, ...]) -> list[Row]:
    rows: list[Row] = []
    for i, (p, v, a) in enumerate(zip(powers, volts, amps, strict=True), start=1):
        rows += [(f"{sensor}:l{i}", "power", p, t), (f"{sensor}:l{i}", "voltage", v, t),
                 (f"{sensor}:l{i}", "current", a, t)]
    return rows


def test_crc16_arc() -> None:
    assert crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value
    body = payload("dsmr-p1__nl-dsmr50-iskra-telegram.txt")
    assert crc16(body[: body.index(b"!") + 1]) == 0x6EEE


def _crc16_arc_bitwise(data: bytes) -> int:
    """CRC-16/ARC one bit at a time, straight from its definition: an independent check of the library."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("name", [
    "dsmr-p1__nl-dsmr50-iskra-telegram.txt",  # real meters' telegrams, byte for byte
    "dsmr-p1__be-fluvius-v171-telegram.txt",
    "own__dsmr-be-solar-export.txt",
    "own__dsmr-nl-lf-only.txt",
    "own__dsmr-nl-bad-crc.txt",
])
def test_crc16_library_matches_the_definition_and_the_meter(name: str) -> None:
    telegram = payload(name)
    body = telegram[: telegram.index(b"!") + 1]
    for data in (body, body[:-200], body.replace(b"\r\n", b"\n")):  # whole, cut short, LF-only
        assert crc16(data) == _crc16_arc_bitwise(data)
    if name.startswith("dsmr-p1__"):  # what the meter itself printed after '!'
        assert crc16(body) == int(telegram[telegram.index(b"!") + 1 :].strip(), 16)


NL_READINGS: list[Row] = [
    (NL, "energy_import", 4.426 + 2.399, utc(2017, 1, 2, 18, 20, 2)),
    (NL, "energy_export", 2.444 + 0.0, utc(2017, 1, 2, 18, 20, 2)),
    (NL, "power", 244.0, utc(2017, 1, 2, 18, 20, 2)),
    *_phases(NL, utc(2017, 1, 2, 18, 20, 2), (70, 32, 142), (230.0, 230.0, 229.0), (0.48, 0.44, 0.86)),
    (NL, "gas_volume", 0.107, utc(2017, 1, 2, 15, 10, 5)),  # its own timestamp
]


def test_nl_dsmr5_telegram() -> None:
    assert_readings(decode("dsmr/raw", payload("dsmr-p1__nl-dsmr50-iskra-telegram.txt"), CTX), NL_READINGS)


def test_be_fluvius_telegram_ignores_water_and_invalid_history_timestamp() -> None:
    t = utc(2023, 11, 2, 11, 15, 48)
    assert_readings(decode("dsmr/raw", payload("dsmr-p1__be-fluvius-v171-telegram.txt"), CTX), [
        (BE, "energy_import", 301.548 + 270.014, t),
        (BE, "energy_export", 0.005, t),
        (BE, "power", 338.0, t),
        *_phases(BE, t, (47, 179, 111), (232.9, 228.1, 228.1), (0.27, 0.88, 0.52)),
        (BE, "gas_volume", 92.287, utc(2023, 11, 2, 11, 10, 2)),  # 0-1:24.2.3; 0-2 is water
    ])


def test_dst_fold_summer_and_winter_flags_pick_the_hour() -> None:
    summer = decode("dsmr/p1", payload("own__dsmr-be-dst-fold-summer.txt"), CTX)
    winter = decode("dsmr/p1", payload("own__dsmr-be-dst-fold-winter.txt"), CTX)
    assert {r.time for r in summer if r.metric != "gas_volume"} == {utc(2023, 10, 29, 0, 30)}
    assert {r.time for r in winter if r.metric != "gas_volume"} == {utc(2023, 10, 29, 1, 30)}
    assert [r.time for r in summer if r.metric == "gas_volume"] == [utc(2023, 10, 29, 0, 5)]
    assert [r.time for r in winter if r.metric == "gas_volume"] == [utc(2023, 10, 29, 1, 10)]
    t = utc(2023, 10, 29, 0, 30)
    assert_readings(summer, [
        (BE_OWN, "energy_import", 4120.337 + 3391.004, t),
        (BE_OWN, "energy_export", 1802.541 + 611.090, t),
        (BE_OWN, "power", 521.0, t),
        *_phases(BE_OWN, t, (201, 187, 133), (231.4, 229.9, 230.2), (0.93, 0.88, 0.61)),
        (BE_OWN, "gas_volume", 1520.118, utc(2023, 10, 29, 0, 5)),
    ])


def test_exporting_gives_negative_power() -> None:
    t = utc(2024, 6, 15, 11, 15)
    assert_readings(decode("dsmr/p1", payload("own__dsmr-be-solar-export.txt"), CTX), [
        (BE_OWN, "energy_import", 4310.551 + 3477.210, t),
        (BE_OWN, "energy_export", 2519.876 + 702.003, t),
        (BE_OWN, "power", -2815.0, t),
        *_phases(BE_OWN, t, (-940, -921, -954), (236.8, 237.2, 236.1), (4.02, 3.95, 4.11)),
        (BE_OWN, "gas_volume", 1612.440, utc(2024, 6, 15, 11, 10)),
    ])


def test_bad_crc_is_rejected() -> None:
    with pytest.raises(DecodeError, match=r"CRC mismatch: telegram says 6EEE, content gives [0-9A-F]{4}"):
        decode("dsmr/raw", payload("own__dsmr-nl-bad-crc.txt"), CTX)


def test_dsmr4_telegram_without_crc_is_rejected() -> None:
    with pytest.raises(DecodeError, match="without CRC"):
        decode("dsmr/raw", payload("own__dsmr-nl-v5-crc-missing.txt"), CTX)


def test_crlf_turned_into_lf_by_a_bridge_still_checks() -> None:
    assert_readings(decode("dsmr/raw", payload("own__dsmr-nl-lf-only.txt"), CTX), NL_READINGS)


def test_dsmr22_without_crc_and_dsmr3_gas_continuation_line() -> None:
    assert_readings(decode("dsmr/raw", payload("own__dsmr-v22-no-crc.txt"), CTX), [
        ("dsmr:E0026000024153615", "energy_import", 512.081 + 688.412, None),  # no 0-0:1.0.0 in DSMR 2.2
        ("dsmr:E0026000024153615", "energy_export", 0.0, None),
        ("dsmr:E0026000024153615", "power", 430.0, None),
        ("dsmr:E0026000024153615", "gas_volume", 843.271, utc(2016, 11, 7, 18, 0)),  # no S/W: CET
    ])


def _bare(*lines: str) -> bytes:
    return ("/XMX5\\test\r\n\r\n" + "".join(f"{line}\r\n" for line in lines) + "!\r\n").encode()


def test_no_equipment_id_names_the_sensor_after_the_topic() -> None:
    (r,) = decode("dsmr/kitchen-meter", _bare("1-0:1.7.0(01.500*kW)"), CTX)
    assert r == ("dsmr:kitchen-meter", "power", 1500.0, None)


def test_equipment_id_that_is_not_printable_hex_is_kept_as_is() -> None:
    (r,) = decode("dsmr/x", _bare("0-0:96.1.1(00000000000000)", "1-0:1.7.0(01.500*kW)"), CTX)
    assert r.sensor_id == "dsmr:00000000000000"


def test_garbage_meter_clock_leaves_the_time_to_the_receiver() -> None:
    (r,) = decode("dsmr/x", _bare("0-0:1.0.0(632525252525W)", "1-0:1.7.0(00.100*kW)"), CTX)
    assert r.time is None


def test_single_total_register_and_watt_units() -> None:
    got = decode("dsmr/x", _bare("1-0:1.8.0(012345.678*kWh)", "1-0:1.8.1(1.000*kWh)", "1-0:1.7.0(1200*W)"), CTX)
    assert_readings(got, [("dsmr:x", "energy_import", 12345.678, None), ("dsmr:x", "power", 1200.0, None)])


def test_gas_needs_device_type_3() -> None:
    water = _bare("0-1:24.1.0(007)", "0-1:24.2.1(231102121532W)(00008.579*m3)")
    assert decode("dsmr/x", water, CTX) == []
    assert decode("dsmr/x", _bare("0-1:24.1.0(³)", "0-1:24.2.1(231102121532W)(00008.579*m3)"), CTX) == []
    gas = _bare("0-1:24.1.0(003)", "0-1:24.2.1(231102121532W)(00008.579*m3)")
    assert decode("dsmr/x", gas, CTX) == [("dsmr:x", "gas_volume", 8.579, utc(2023, 11, 2, 11, 15, 32))]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "no '/' header"),
    (b"1-0:1.8.1(000004.426*kWh)", "no '/' header"),
    (b"/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(000004.426*kWh)\r\n", "no '!' end marker"),
    (b"/X\r\n!6E\r\n", "malformed CRC"),
    (b"/X\r\n!ZZZZ\r\n", "malformed CRC"),
    (b"/X\r\n1-0:1.7.0(01.5*MW)\r\n!\r\n", r"1-0:1.7.0: unexpected unit 'MW'"),
    (b"/X\r\n1-0:1.7.0(x*kW)\r\n!\r\n", r"1-0:1.7.0: 'x' is not a number"),
])
def test_not_a_valid_telegram(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("dsmr/raw", body, CTX)


def test_topics() -> None:
    assert FORMAT.matches("dsmr")
    assert FORMAT.matches("dsmr/raw")
    assert FORMAT.matches("dsmr/p1/house-3")
    assert not FORMAT.matches("dsmrx/raw")
