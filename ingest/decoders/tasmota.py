"""Tasmota telemetry: the JSON a Tasmota device publishes on `tele/<topic>/SENSOR`.

    {"Time":"2023-05-19T20:52:56","ENERGY":{"Total":514.153,"Power":56,…},"BME280":{…},"TempUnit":"C"}

The topic is the device's own name: the sensor is `tasmota:<topic>`. Custom
FullTopics are recognised in both shapes Tasmota allows: a prefix before `tele`
(`home/tele/pow1/SENSOR`) and the topic before `tele`
(`emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR` → `tasmota:denky_D6C0C0`).

`Time` is the device's local wall clock without a zone, read in ctx.tz (in the
autumn fold the earlier hour is taken; Tasmota gives nothing to tell them apart).
The units of temperatures and pressures are stated once at top level
(`TempUnit`, `PressureUnit`) and converted here. Energy counters Today/Yesterday/
Period, dew points, gas resistance, eCO2, raw ADC values and the ESP chip
temperature are not readings. Tasmota also publishes the raw teleinfo/SML
labels of some meters (`TIC`…); the `ENERGY` object is Tasmota's own reading of
the same meter in fixed units, so only that one is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, optional_number
from ingest.decoders.timeparse import from_epoch, from_iso
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "tasmota"

_TOPIC = re.compile(r"(?:.+/)?tele/(?P<after>[^/]+)/SENSOR|(?:.+/)?(?P<before>[^/]+)/tele/SENSOR")

# ENERGY field → (metric, summed over phases when it is a per-phase array). All in canonical units.
_ENERGY: dict[str, tuple[str, bool]] = {
    "Total": ("energy_import", True),
    "ExportActive": ("energy_export", True),
    "ExportActivePower": ("energy_export", True),  # older SDM drivers' name for the same kWh counter
    "Power": ("power", True),
    "ApparentPower": ("apparent_power", True),
    "ReactivePower": ("reactive_power", True),
    "Factor": ("power_factor", False),
    "Voltage": ("voltage", False),
    "Current": ("current", False),
    "Frequency": ("frequency", False),
}

# Fields of every other sensor object (BME280, SCD30, SDS0X1, DS18B20, …) → metric.
_SENSOR_FIELDS: dict[str, str] = {
    "Temperature": "temperature",
    "Humidity": "humidity",
    "Pressure": "pressure",
    "CarbonDioxide": "co2",
    "PM1": "pm1",
    "PM2.5": "pm25",
    "PM10": "pm10",
}

# Objects that look like sensors but measure the device itself.
_NOT_SENSORS = frozenset({"ESP32", "ESP8266"})

_TEMPERATURE: dict[str, Callable[[float], float]] = {
    "C": lambda v: v,
    "F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "K": lambda v: v - 273.15,
}
_PRESSURE_HPA: dict[str, float] = {"hPa": 1.0, "mmHg": 1.33322387415, "inHg": 33.8638866667}

_SCRIPT_OBJECT = ""  # Tasmota scripts (SML meter reading) publish their values under an empty key


class _Collector:
    """The readings of one message; a metric reported twice goes to a sub-sensor named after its object.

    Two sensors of one kind (two DS18B20s, a BME280 next to an SCD30) would otherwise
    collide on (sensor, metric, time); the first object keeps the device's own sensor id.
    """

    __slots__ = ("readings", "sensor", "taken", "time")

    def __init__(self, sensor: str, time: datetime | None) -> None:
        self.sensor = sensor
        self.time = time
        self.readings: list[Reading] = []
        self.taken: set[str] = set()

    def add(self, metric: str, value: float, obj: str) -> None:
        if metric in self.taken:
            self.readings.append(Reading(f"{self.sensor}:{obj}", metric, value, self.time))
        else:
            self.taken.add(metric)
            self.readings.append(Reading(self.sensor, metric, value, self.time))


def _device(topic: str) -> str:
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not a Tasmota tele/<topic>/SENSOR topic")
    return match["after"] or match["before"]


def _time(doc: dict[str, Any], ctx: DecodeContext) -> datetime | None:
    raw = doc.get("Time")
    if isinstance(raw, str):
        return from_iso(raw, ctx.tz)
    if raw is None and doc.get("Epoch") is not None:
        epoch = optional_number(doc["Epoch"], "Epoch")
        return None if epoch is None else from_epoch(epoch)
    if raw is None:
        return None
    raise DecodeError(f"Time {raw!r} is not a timestamp string")


def _energy(obj: dict[str, Any], out: _Collector) -> None:
    for field, (metric, additive) in _ENERGY.items():
        raw = obj.get(field)
        if raw is None:
            continue
        if isinstance(raw, list):
            _phases(raw, field, metric, additive, out)
            continue
        value = optional_number(raw, f"ENERGY.{field}")
        if value is not None:
            out.add(metric, value, "ENERGY")


def _phases(values: list[Any], field: str, metric: str, additive: bool, out: _Collector) -> None:
    """Multi-phase meters send arrays: one value per phase on sub-sensors :l1, :l2…, the sum on the device."""
    total, counted = 0.0, 0
    for i, raw in enumerate(values, start=1):
        value = optional_number(raw, f"ENERGY.{field}[{i - 1}]")
        if value is None:
            continue
        total += value
        counted += 1
        out.readings.append(Reading(f"{out.sensor}:l{i}", metric, value, out.time))
    if additive and counted:
        out.add(metric, total, "ENERGY")


def _sensor(name: str, obj: dict[str, Any], units: dict[str, Any], out: _Collector) -> None:
    for field, metric in _SENSOR_FIELDS.items():
        value = optional_number(obj.get(field), f"{name}.{field}")
        if value is None:
            continue
        if metric == "temperature":
            value = _degc(value, units.get("TempUnit", "C"), name)
        elif metric == "pressure":
            value = _hpa(value, units.get("PressureUnit", "hPa"), name)
        out.add(metric, value, name)


def _degc(value: float, unit: object, name: str) -> float:
    if not isinstance(unit, str) or unit not in _TEMPERATURE:
        raise DecodeError(f"{name}.Temperature: unknown TempUnit {unit!r}")
    return _TEMPERATURE[unit](value)


def _hpa(value: float, unit: object, name: str) -> float:
    if not isinstance(unit, str) or unit not in _PRESSURE_HPA:
        raise DecodeError(f"{name}.Pressure: unknown PressureUnit {unit!r}")
    return value * _PRESSURE_HPA[unit]


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    device = _device(topic)
    doc = load(payload)
    if not isinstance(doc, dict):
        raise DecodeError("Tasmota SENSOR payload must be a JSON object")
    out = _Collector(f"{SOURCE}:{device}", _time(doc, ctx))
    script = False
    for name, obj in doc.items():
        if not isinstance(obj, dict) or name in _NOT_SENSORS:
            continue  # Time, TempUnit, "Switch1":"ON", …
        if name == _SCRIPT_OBJECT:
            script = True
        elif name == "ENERGY":
            _energy(obj, out)
        else:
            _sensor(name, obj, doc, out)
    if script and not out.readings:
        # The script names its values and picks their units itself ("total": 10163360.8 is Wh
        # or kWh as the user wrote it): storing them would be a guess.
        raise DecodeError('the Tasmota script object "" has no units (SML/meter script values); '
                          "not stored: publish them as ENERGY or name them with units in the script")
    return out.readings


FORMAT = Format(
    name="tasmota",
    topic=_TOPIC,
    subscriptions=(
        "tele/+/SENSOR",
        "+/tele/+/SENSOR",
        "+/tele/SENSOR",
        "+/+/tele/SENSOR",
        "+/+/+/tele/SENSOR",
        "+/+/+/+/tele/SENSOR",
    ),
    decode=decode,
    description="Tasmota telemetry JSON on tele/<topic>/SENSOR (ENERGY, BME280/680, SCD30/4x, SDS0X1…)",
)
