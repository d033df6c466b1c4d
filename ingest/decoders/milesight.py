"""Milesight's LoRaWAN payload codec (f_port 85), bytes → canonical readings. Pure.

A Milesight uplink is a run of entries `channel id (1 byte) | type (1 byte) | data`,
where the pair fixes the data's length and meaning; there is no length field, so an
unknown pair ends the decoding and the payload is rejected rather than read as
garbage. Covered: EM310-UDL (bin fill: battery, distance, tilt), EM300/EM320-TH
(temperature, humidity) and AM307/AM319 (indoor air). Integers are little-endian.

The same channel number means different things on other models (on the EM400 0x05
0x00 is the tilt, here it is the AM319's PIR): this table is the EM310/EM320/AM30x/
AM319 family only.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.errors import DecodeError

_Read = Callable[[bytes], float]


def _u8(b: bytes) -> float:
    return float(b[0])


def _u16(b: bytes) -> float:
    return float(int.from_bytes(b, "little"))


def _i16_tenths(b: bytes) -> float:
    return int.from_bytes(b, "little", signed=True) / 10


def _half(b: bytes) -> float:
    return b[0] / 2


def _u16_tenths(b: bytes) -> float:
    return int.from_bytes(b, "little") / 10


def _tilt(b: bytes) -> float:
    if b[0] > 1:
        raise DecodeError(f"milesight: position byte 0x{b[0]:02x} is neither 0 (normal) nor 1 (tilt)")
    return float(b[0])


# (channel, type) → (length, metric or None when not a reading, reader).
_ENTRIES: dict[tuple[int, int], tuple[int, str | None, _Read | None]] = {
    (0x01, 0x75): (1, "battery", _u8),  # %
    (0x03, 0x67): (2, "temperature", _i16_tenths),  # degC
    (0x04, 0x68): (1, "humidity", _half),  # %RH, 0.5 steps
    (0x03, 0x82): (2, "distance", _u16),  # mm
    (0x04, 0x00): (1, "tilted", _tilt),  # EM310-UDL position: 0 normal, 1 tilt
    (0x05, 0x00): (1, None, None),  # PIR
    (0x06, 0xCB): (1, None, None),  # light level (0..5)
    (0x07, 0x7D): (2, "co2", _u16),  # ppm
    (0x08, 0x7D): (2, None, None),  # tVOC (IAQ index or ppb by firmware)
    (0x08, 0xE6): (2, None, None),  # tVOC, ug/m3
    (0x09, 0x73): (2, "pressure", _u16_tenths),  # hPa
    (0x0A, 0x7D): (2, None, None),  # HCHO mg/m3 x 100
    (0x0B, 0x7D): (2, "pm25", _u16),  # ug/m3
    (0x0C, 0x7D): (2, "pm10", _u16),  # ug/m3
    (0x0D, 0x7D): (2, None, None),  # O3 in ppm x 100: no ug/m3 without temperature and pressure
    (0x0E, 0x01): (1, None, None),  # buzzer
    # Device information the devices send after joining.
    (0xFF, 0x01): (1, None, None),  # protocol version
    (0xFF, 0x09): (2, None, None),  # hardware version
    (0xFF, 0x0A): (2, None, None),  # firmware version
    (0xFF, 0x0B): (1, None, None),  # power on
    (0xFF, 0x0F): (1, None, None),  # LoRaWAN class
    (0xFF, 0x16): (8, None, None),  # serial number
    (0xFF, 0xFE): (1, None, None),  # reset event
    (0xFF, 0xFF): (2, None, None),  # TSL version
}


def decode(data: bytes) -> dict[str, float]:
    """Canonical metric → value (canonical unit) of one uplink's frm_payload."""
    readings: dict[str, float] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise DecodeError(f"milesight: truncated entry at byte {i}")
        key = (data[i], data[i + 1])
        entry = _ENTRIES.get(key)
        if entry is None:
            raise DecodeError(f"milesight: unknown channel 0x{key[0]:02x} type 0x{key[1]:02x} at byte {i}")
        length, metric, read = entry
        value = data[i + 2 : i + 2 + length]
        if len(value) < length:
            raise DecodeError(f"milesight: channel 0x{key[0]:02x} type 0x{key[1]:02x} needs {length} bytes "
                              f"at byte {i + 2}, has {len(value)}")
        if metric is not None and read is not None:
            readings[metric] = read(value)
        i += 2 + length
    return readings
