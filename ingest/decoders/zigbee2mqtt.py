"""Zigbee2MQTT device state: the flat JSON object Zigbee2MQTT publishes on `<base>/<friendly name>`.

    {"current":0.1,"energy":8.42,"power":3,"voltage":241,"last_seen":"2022-11-15T19:06:38+00:00",…}

The base topic is `zigbee2mqtt` or a custom one starting with it (`zigbee2mqttcc1352`);
the bridge's own topics (`<base>/bridge/…`) and a device's `set`, `get` and
`availability` topics are not device state and do not match. The sensor is
`zigbee2mqtt:<friendly name>`. The default subscription `zigbee2mqtt/+` covers
names without a slash; add `zigbee2mqtt/#` or the custom base to reach others.

Zigbee2MQTT already normalises units (W, V, A, kWh, °C, %, hPa, ppm, ug/m3), so
fields map by name. The one trap: battery devices report their battery as
`voltage` in mV (an Aqara air sensor's 3000), so `voltage` counts only for
mains devices, those that report power, current or energy or have no battery.
`last_seen` (when enabled in Zigbee2MQTT: ISO-8601 or epoch milliseconds) is the
time; without it the receive time applies.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, optional_number
from ingest.decoders.timeparse import from_epoch, from_iso
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "zigbee2mqtt"

_TOPIC = re.compile(
    r"zigbee2mqtt[^/]*/"
    r"(?!bridge(?:/|$))"  # the bridge's own state, logs, device list…
    r"(?!(?:[^/]+/)*(?:set|get)(?:/|$))"  # commands to a device
    r"(?!.*/availability$)"  # online/offline
    r"(?P<name>[^/]+(?:/[^/]+)*)"
)

# Field → metric, in the metric's canonical unit; the first field present wins for a metric.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("power", "power"),
    ("apparent_power", "apparent_power"),
    ("reactive_power", "reactive_power"),
    ("current", "current"),
    ("rms_current", "current"),
    ("ac_frequency", "frequency"),
    ("energy", "energy_import"),
    ("current_summ_delivered", "energy_import"),
    ("produced_energy", "energy_export"),
    ("current_summ_received", "energy_export"),
    ("temperature", "temperature"),
    ("humidity", "humidity"),
    ("pressure", "pressure"),
    ("co2", "co2"),
    ("pm1", "pm1"),
    ("pm25", "pm25"),
    ("pm10", "pm10"),
    ("battery", "battery"),
)
_VOLTAGES = ("voltage", "rms_voltage")
_MAINS_EVIDENCE = ("power", "current", "energy")
# Tariff registers of French Linky meters (ZLinky_TIC): their sum is the import counter.
_TIERS = tuple(f"current_tier{n}_summ_delivered" for n in range(1, 11))


def _time(raw: object, tz: ZoneInfo) -> datetime | None:
    """`last_seen`: ISO-8601 (with its offset) or epoch milliseconds."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return from_iso(raw, tz)
    millis = optional_number(raw, "last_seen")
    return None if millis is None else from_epoch(millis / 1000.0)


def _tiers(doc: dict[str, Any]) -> float | None:
    values = [v for key in _TIERS if (v := optional_number(doc.get(key), key)) is not None]
    return sum(values) if values else None


def _is_mains(doc: dict[str, Any]) -> bool:
    return doc.get("battery") is None or any(doc.get(k) is not None for k in _MAINS_EVIDENCE)


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not a Zigbee2MQTT device state topic")
    doc = load(payload)
    if not isinstance(doc, dict):
        raise DecodeError("Zigbee2MQTT device state must be a JSON object")
    sensor = f"{SOURCE}:{match['name']}"
    time = _time(doc.get("last_seen"), ctx.tz)
    values: dict[str, float] = {}
    for field, metric in _FIELDS:
        if metric not in values:
            value = optional_number(doc.get(field), field)
            if value is not None:
                values[metric] = value
    if "energy_import" not in values and (tiers := _tiers(doc)) is not None:
        values["energy_import"] = tiers
    if _is_mains(doc):
        for field in _VOLTAGES:
            value = optional_number(doc.get(field), field)
            if value is not None:
                values["voltage"] = value
                break
    return [Reading(sensor, metric, value, time) for metric, value in values.items()]


FORMAT = Format(
    name="zigbee2mqtt",
    topic=_TOPIC,
    subscriptions=("zigbee2mqtt/+",),
    decode=decode,
    description="Zigbee2MQTT device state JSON on zigbee2mqtt*/<friendly name>",
)
