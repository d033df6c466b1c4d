"""DSMR / e-MUCS P1 smart-meter telegrams (NL, BE, LU), raw text as the meter sends it, on `dsmr/#`.

    /FLU5\\253769484_A
    0-0:96.1.1(3153414733313030373231333236)
    0-0:1.0.0(231102121548W)
    1-0:1.8.1(000301.548*kWh)
    …
    !C4B0

The CRC (CRC-16/ARC over everything from '/' through '!') must match: a P1 line
drops bytes, and a half telegram must not become a reading. Only DSMR 2.2/3.0
telegrams, which have no CRC at all (a bare '!'), are taken without one; a
DSMR 4+/e-MUCS telegram (it names its version in 1-3:0.2.8 or 0-0:96.1.4) with a
bare '!' is rejected. A bridge that turned the meter's CRLF into LF is forgiven:
the CRC is then checked over the CRLF original.

Readings: imports and exports summed over tariffs (tariff 1 is night in NL and
day in BE, which does not matter for a sum), net power import − export in W
(negative when exporting), per-phase power/voltage/current on sub-sensors
`:l1`…`:l3`, and the gas meter (M-Bus device type 3) with its own timestamp.
Timestamps are local wall-clock times in ctx.tz whose S/W suffix says summer or
winter time, which decides the doubled autumn hour. The sensor is
`dsmr:<equipment id>` from 0-0:96.1.1, hex-decoded when it is printable ASCII;
0-0:96.1.4 is deliberately not used: in e-MUCS it is the protocol version (50217),
the same on every Fluvius meter.
"""

from __future__ import annotations

import re
from datetime import datetime

import fastcrc

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import number
from ingest.decoders.timeparse import from_local
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "dsmr"

_TOPIC = re.compile(r"dsmr(?:/.*)?")


_HEX = frozenset(b"0123456789abcdefABCDEF")


def crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0), as DSMR 4+ specifies.

    fastcrc's native code takes ~0.2 µs for a 1 kB telegram, where a table-driven
    Python loop took ~80 µs: a tenth of ingest's CPU per DSMR message (docs/performance.md).
    """
    return fastcrc.crc16.arc(data)


def _telegram(payload: bytes) -> tuple[bytes, bool]:
    """The telegram from '/' through '!', CRC-checked; and whether it carried a CRC."""
    start = payload.find(b"/")
    if start < 0:
        raise DecodeError("not a P1 telegram: no '/' header")
    end = payload.find(b"!", start)
    if end < 0:
        raise DecodeError("P1 telegram has no '!' end marker (truncated?)")
    body = payload[start : end + 1]
    given = payload[end + 1 : end + 5]
    if len(given) == 4 and all(c in _HEX for c in given):
        expected = int(given, 16)
        if crc16(body) != expected and (b"\r" in body or crc16(body.replace(b"\n", b"\r\n")) != expected):
            raise DecodeError(f"P1 telegram CRC mismatch: telegram says {given.decode()}, "
                              f"content gives {crc16(body):04X}")
        return body, True
    if given[:1] not in (b"", b"\r", b"\n"):
        raise DecodeError(f"P1 telegram has a malformed CRC after '!': {given!r}")
    return body, False


def _objects(body: bytes) -> dict[str, list[str]]:
    """OBIS reference → its value groups, e.g. '1-0:1.8.1' → ['000301.548*kWh']."""
    lines: list[str] = []
    for raw in body[:-1].decode("latin-1").split("\n"):
        line = raw.strip()
        if line.startswith("(") and lines:  # DSMR 3 gas: the value continues on the next line
            lines[-1] += line
        elif line:
            lines.append(line)
    objects: dict[str, list[str]] = {}
    for line in lines[1:]:  # lines[0] is the /XXX5 identification header
        i = line.find("(")
        if i <= 0 or not line.endswith(")"):
            continue
        objects.setdefault(line[:i], line[i + 1 : -1].split(")("))
    return objects


# Unit as the meter writes it → factor to the canonical unit of the metric it carries.
_UNITS: dict[str, dict[str, float]] = {
    "energy": {"kWh": 1.0, "Wh": 0.001, "": 1.0},
    "power": {"kW": 1000.0, "W": 1.0, "": 1000.0},
    "voltage": {"V": 1.0, "": 1.0},
    "current": {"A": 1.0, "": 1.0},
    "gas": {"m3": 1.0, "dm3": 0.001, "": 1.0},
}


def _quantity(group: str, kind: str, what: str) -> float:
    text, _, unit = group.partition("*")
    factors = _UNITS[kind]
    if unit not in factors:
        raise DecodeError(f"{what}: unexpected unit {unit!r} in ({group})")
    return number(text, what) * factors[unit]


def _value(objects: dict[str, list[str]], obis: str, kind: str) -> float | None:
    groups = objects.get(obis)
    if groups is None:
        return None
    return _quantity(groups[-1], kind, obis)


_TIMESTAMP = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)([SW]?)")


def _timestamp(text: str, ctx: DecodeContext) -> datetime | None:
    """YYMMDDhhmmssX local time; None when the meter's clock gives garbage (a reading without time)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    yy, mo, dd, hh, mi, ss, flag = match.groups()
    try:
        naive = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss))
    except ValueError:
        return None
    return from_local(naive, ctx.tz, dst=None if not flag else flag == "S")


def _equipment_id(objects: dict[str, list[str]], topic: str) -> str:
    groups = objects.get("0-0:96.1.1")
    raw = groups[0].strip() if groups else ""
    if not raw:
        return topic.rsplit("/", 1)[-1]
    if len(raw) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in raw):
        text = bytes.fromhex(raw).decode("latin-1").strip()
        if text and all("!" <= c <= "~" for c in text):
            return text
    return raw


# Register → (its total, its tariffs 1..9), as OBIS references.
_REGISTERS = {reg: (f"1-0:{reg}.0", tuple(f"1-0:{reg}.{t}" for t in range(1, 10))) for reg in ("1.8", "2.8")}


def _sum(objects: dict[str, list[str]], register: str) -> float | None:
    """A total register (1.8.0) if the meter has one, else the sum of its tariff registers."""
    total_obis, tariff_obis = _REGISTERS[register]
    total = _value(objects, total_obis, "energy")
    if total is not None:
        return total
    tariffs = [v for obis in tariff_obis if (v := _value(objects, obis, "energy")) is not None]
    return sum(tariffs) if tariffs else None


def _net(imported: float | None, exported: float | None) -> float | None:
    if imported is None and exported is None:
        return None
    return (imported or 0.0) - (exported or 0.0)


# Phase → OBIS references of (power import, power export, voltage, current).
_PHASES = tuple(
    (phase, f"1-0:{p_in}.7.0", f"1-0:{p_out}.7.0", f"1-0:{volt}.7.0", f"1-0:{amp}.7.0")
    for phase, p_in, p_out, volt, amp in (
        ("l1", 21, 22, 32, 31),
        ("l2", 41, 42, 52, 51),
        ("l3", 61, 62, 72, 71),
    )
)


def _electricity(objects: dict[str, list[str]], sensor: str, time: datetime | None) -> list[Reading]:
    out: list[Reading] = []

    def put(sensor_id: str, metric: str, value: float | None) -> None:
        if value is not None:
            out.append(Reading(sensor_id, metric, value, time))

    put(sensor, "energy_import", _sum(objects, "1.8"))
    put(sensor, "energy_export", _sum(objects, "2.8"))
    put(sensor, "power", _net(_value(objects, "1-0:1.7.0", "power"), _value(objects, "1-0:2.7.0", "power")))
    for phase, p_in, p_out, volt, amp in _PHASES:
        sub = f"{sensor}:{phase}"
        put(sub, "power", _net(_value(objects, p_in, "power"), _value(objects, p_out, "power")))
        put(sub, "voltage", _value(objects, volt, "voltage"))
        put(sub, "current", _value(objects, amp, "current"))
    return out


def _gas(objects: dict[str, list[str]], sensor: str, ctx: DecodeContext) -> list[Reading]:
    out: list[Reading] = []
    for channel in range(1, 5):
        kind = objects.get(f"0-{channel}:24.1.0")
        if not kind or not kind[0].strip().isdecimal() or int(kind[0]) != 3:
            continue  # not a gas meter (water is 7, heat 4…)
        groups = (objects.get(f"0-{channel}:24.2.1") or objects.get(f"0-{channel}:24.2.3")
                  or objects.get(f"0-{channel}:24.3.0"))
        if not groups or len(groups) < 2:
            continue
        text = groups[-1]
        if "*" not in text and len(groups) > 2 and groups[-2] in _UNITS["gas"]:
            text = f"{text}*{groups[-2]}"  # DSMR 3: (…)(m3)(00000.107), the unit in a group of its own
        value = _quantity(text, "gas", f"0-{channel}:24.2")
        time = _timestamp(groups[0], ctx)
        sensor_id = sensor if not out else f"{sensor}:mbus:{channel}"
        out.append(Reading(sensor_id, "gas_volume", value, time))
    return out


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    body, has_crc = _telegram(payload)
    objects = _objects(body)
    if not has_crc and ("1-3:0.2.8" in objects or "0-0:96.1.4" in objects):
        raise DecodeError("DSMR 4+/e-MUCS telegram without CRC (a bare '!'): truncated or corrupted")
    sensor = f"{SOURCE}:{_equipment_id(objects, topic)}"
    stamp = objects.get("0-0:1.0.0")
    time = _timestamp(stamp[0], ctx) if stamp else None
    return _electricity(objects, sensor, time) + _gas(objects, sensor, ctx)


FORMAT = Format(
    name="dsmr",
    topic=_TOPIC,
    subscriptions=("dsmr/#",),
    decode=decode,
    description="DSMR/e-MUCS P1 telegram, raw text (CRC checked); 0-0:96.1.1 names the sensor",
)
