"""Sensor.Community (luftdaten.info, firmware "airrohr") air-quality stations on `airrohr/<device>`.

Two shapes arrive here:

* the firmware's own push ("send to custom API"), forwarded to MQTT:
  `{"esp8266id":"12331981","sensordatavalues":[{"value_type":"SDS_P1","value":"0.40"},…]}`.
  It carries no time (receive time applies) and, in some firmware, not even an id:
  the sensor is `sensor.community:<device>` from the topic.
* records of the data.sensor.community API v1 (an array, or one record), each
  `{"timestamp":"2019-04-25 01:51:12","sensor":{"id":2129,…},"sensordatavalues":[…]}`.
  The timestamp is UTC although it has no zone marker; the sensor is
  `sensor.community:<sensor.id>`.

All values are strings. Value types are `<SENSOR>_<quantity>` or a bare quantity
(DHT22, API records): P1 is PM10, P2 is PM2.5, P0 is PM1 (the firmware's naming,
not a typo); pressures are in Pa. Signal strength, sample counts, loop timings and
the like are not readings.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, number
from ingest.decoders.timeparse import from_iso
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "sensor.community"
_UTC = ZoneInfo("UTC")

_TOPIC = re.compile(r"airrohr/(?P<device>[^/]+)")

# Quantity (the value_type after its sensor prefix) → (metric, factor to the canonical unit).
_QUANTITIES: dict[str, tuple[str, float]] = {
    "P0": ("pm1", 1.0),
    "P1": ("pm10", 1.0),
    "P2": ("pm25", 1.0),
    "temperature": ("temperature", 1.0),
    "humidity": ("humidity", 1.0),
    "pressure": ("pressure", 0.01),  # Pa
    "co2": ("co2", 1.0),
}
_UNPREFIXED = "dht22"  # the firmware writes DHT22 values without a sensor prefix


def _split(value_type: str) -> tuple[str, str]:
    """'BME280_pressure' → ('bme280', 'pressure'); 'temperature' → ('dht22', 'temperature')."""
    prefix, sep, quantity = value_type.partition("_")
    if not sep:
        return _UNPREFIXED, value_type
    return prefix.lower(), quantity


def _values(values: object, sensor: str, time: datetime | None, where: str) -> list[Reading]:
    if not isinstance(values, list):
        raise DecodeError(f"{where}: 'sensordatavalues' must be an array")
    out: list[Reading] = []
    taken: set[str] = set()
    for i, item in enumerate(values):
        if not isinstance(item, dict) or not isinstance(item.get("value_type"), str):
            raise DecodeError(f"{where}: sensordatavalues[{i}] must be an object with a value_type")
        prefix, quantity = _split(item["value_type"])
        known = _QUANTITIES.get(quantity)
        if known is None:
            continue
        metric, factor = known
        value = number(item.get("value"), f"{where} {item['value_type']}") * factor
        # Two sensors of one quantity on a station (a DHT22 and a BME280): the first keeps the
        # station's id, the next gets a sub-sensor named after its type.
        sensor_id = sensor if metric not in taken else f"{sensor}:{prefix}"
        taken.add(metric)
        out.append(Reading(sensor_id, metric, value, time))
    return out


def _api_record(record: object, i: int) -> list[Reading]:
    where = f"record {i}"
    if not isinstance(record, dict):
        raise DecodeError(f"{where}: not a JSON object")
    sensor = record.get("sensor")
    sid = sensor.get("id") if isinstance(sensor, dict) else None
    if isinstance(sid, bool) or not isinstance(sid, int | str) or sid == "":
        raise DecodeError(f"{where}: no sensor.id")
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        raise DecodeError(f"{where}: no timestamp")
    return _values(record.get("sensordatavalues"), f"{SOURCE}:{sid}", from_iso(stamp, _UTC), where)


def _is_api_record(doc: dict[str, Any]) -> bool:
    return "sensor" in doc and "timestamp" in doc


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not airrohr/<device>")
    doc = load(payload)
    if isinstance(doc, list):
        return [r for i, record in enumerate(doc) for r in _api_record(record, i)]
    if not isinstance(doc, dict):
        raise DecodeError("Sensor.Community payload must be a JSON object or an array of API records")
    if _is_api_record(doc):
        return _api_record(doc, 0)
    if "sensordatavalues" not in doc:
        raise DecodeError("Sensor.Community payload has no 'sensordatavalues'")
    return _values(doc["sensordatavalues"], f"{SOURCE}:{match['device']}", None, "push")


FORMAT = Format(
    name="sensor.community",
    topic=_TOPIC,
    subscriptions=("airrohr/+",),
    decode=decode,
    description="Sensor.Community airrohr JSON (firmware push or API v1 records) on airrohr/<device>",
)
