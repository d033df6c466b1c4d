"""SenML JSON (RFC 8428) on `citysense/senml/#`.

Names resolve as the RFC says (name = bn + n, time = bt + t, unit = u or bu,
value = v + bv). The sensor is the base name, or the name itself when the
record's name is not a metric: `{"n":"urn:dev:ow:10e…","u":"Cel","v":23.1}` is
the temperature of sensor `senml:urn:dev:ow:10e…`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, number
from ingest.decoders.timeparse import from_epoch
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "senml"

# SenML unit → (canonical metric when the name does not say, factor to the canonical unit).
_UNITS: dict[str, tuple[str | None, float]] = {
    "Cel": ("temperature", 1.0),
    "%RH": ("humidity", 1.0),
    "%EL": ("battery", 1.0),
    "V": ("voltage", 1.0),
    "A": ("current", 1.0),
    "W": ("power", 1.0),
    "VA": ("apparent_power", 1.0),
    "var": ("reactive_power", 1.0),
    "Hz": ("frequency", 1.0),
    "Pa": ("pressure", 0.01),
    "hPa": ("pressure", 1.0),
    "ppm": ("co2", 1.0),
    "kWh": (None, 1.0),
    "Wh": (None, 0.001),
    "J": (None, 1.0 / 3.6e6),
    "m3": ("gas_volume", 1.0),
    "ug/m3": (None, 1.0),
    "mm": ("distance", 1.0),
    "m": ("distance", 1000.0),
    "%": (None, 1.0),
    "/": ("power_factor", 1.0),
    "1": (None, 1.0),
    "km/h": ("speed_v85", 1.0),
    "count": (None, 1.0),
}
# Position records are where a sensor is, not what it measures.
_NOT_READINGS = {"lat", "lon"}

# Record names that are metrics, as devices write them, → canonical metric.
_NAMES: dict[str, str] = {
    "pm2.5": "pm25",
    "pm2_5": "pm25",
    "co2": "co2",
    "temp": "temperature",
    "energy": "energy_import",
    "rh": "humidity",
}
_METRIC_UNITS: dict[str, str] = {  # what unit a named canonical metric expects (SenML spelling)
    "power": "W", "apparent_power": "VA", "reactive_power": "var", "power_factor": "/",
    "voltage": "V", "current": "A", "frequency": "Hz", "energy_import": "kWh", "energy_export": "kWh",
    "gas_volume": "m3", "pm1": "ug/m3", "pm25": "ug/m3", "pm10": "ug/m3", "no2": "ug/m3",
    "o3": "ug/m3", "co2": "ppm", "temperature": "Cel", "humidity": "%RH", "pressure": "hPa",
    "bikes": "count", "cars": "count", "pedestrians": "count", "heavy_vehicles": "count",
    "speed_v85": "km/h", "fill_level": "%", "distance": "mm", "battery": "%EL", "tilted": "1",
}
_COMPATIBLE = {  # units accepted for a metric besides its own, for the conversions in _UNITS
    "pressure": {"Pa", "hPa"},
    "energy_import": {"kWh", "Wh", "J"},
    "energy_export": {"kWh", "Wh", "J"},
    "distance": {"mm", "m"},
    "battery": {"%EL", "%"},
    "humidity": {"%RH", "%"},
    "power_factor": {"/", "1"},
}
_RELATIVE_LIMIT = 2**28  # RFC 8428 §4.5.3: smaller times are relative to now


def _metric_for(name: str) -> str | None:
    key = name.strip().lower()
    if key in _METRIC_UNITS:
        return key
    return _NAMES.get(key)


def _factor(metric: str, unit: str | None, where: str) -> float:
    if unit is None:
        return 1.0
    if unit == _METRIC_UNITS[metric] or unit in _COMPATIBLE.get(metric, ()):
        return _UNITS.get(unit, (None, 1.0))[1]
    raise DecodeError(f"{where}: unit {unit!r} does not fit metric {metric!r}")


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    pack = load(payload)
    if isinstance(pack, dict):
        pack = [pack]
    if not isinstance(pack, list) or not pack:
        raise DecodeError("SenML pack must be a non-empty JSON array of records")
    readings: list[Reading] = []
    bn, bt, bu, bv = "", 0.0, None, 0.0
    for i, rec in enumerate(pack):
        where = f"record {i}"
        if not isinstance(rec, dict):
            raise DecodeError(f"{where}: not a JSON object")
        # Base fields carry over to the records after them (RFC 8428 §4.1).
        if "bn" in rec:
            if not isinstance(rec["bn"], str):
                raise DecodeError(f"{where}: bn must be a string")
            bn = rec["bn"]
        if "bt" in rec:
            bt = number(rec["bt"], f"{where} bt")
        if "bu" in rec:
            if not isinstance(rec["bu"], str):
                raise DecodeError(f"{where}: bu must be a string")
            bu = rec["bu"]
        if "bv" in rec:
            bv = number(rec["bv"], f"{where} bv")
        n = rec.get("n", "")
        if not isinstance(n, str):
            raise DecodeError(f"{where}: n must be a string")
        unit = rec.get("u", bu)
        if unit is not None and not isinstance(unit, str):
            raise DecodeError(f"{where}: u must be a string")
        if unit in _NOT_READINGS:
            continue
        if "v" not in rec:
            continue  # string, boolean, data and sum values are not numeric readings
        value = number(rec["v"], f"{where} v") + bv
        metric = _metric_for(n) if n else None
        if metric is not None:
            sensor = bn.rstrip(":/")
        else:
            sensor = (bn + n).rstrip(":/")
            if unit is None or unit not in _UNITS or _UNITS[unit][0] is None:
                raise DecodeError(f"{where}: cannot tell the metric of {bn + n!r} with unit {unit!r}")
            metric = _UNITS[unit][0]
        if not sensor:
            raise DecodeError(f"{where}: no base name or name to identify the sensor")
        assert metric is not None
        value *= _factor(metric, unit, where)
        time = None
        if "t" in rec or "bt" in rec or bt:
            t = bt + (number(rec["t"], f"{where} t") if "t" in rec else 0.0)
            if t >= _RELATIVE_LIMIT:
                time = from_epoch(t)
            elif t <= -_RELATIVE_LIMIT:
                # Relative to now and more than 8 years back: garbage, and beyond year 1 it overflows.
                raise DecodeError(f"{where}: time {t!r} is neither an epoch time nor a plausible relative one")
            elif t != 0.0:
                time = ctx.received_at + timedelta(seconds=t)
        readings.append(Reading(f"{SOURCE}:{sensor}", metric, value, time))
    return readings


FORMAT = Format(
    name="senml",
    topic=re.compile(r"citysense/senml(/.*)?"),
    subscriptions=("citysense/senml/#",),
    decode=decode,
    description="SenML JSON (RFC 8428); the base name bn (or n) names the sensor",
)
