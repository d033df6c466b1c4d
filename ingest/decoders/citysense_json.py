"""citysense's own simple JSON on `citysense/json/<device>`, for integrations that can shape their output.

    {"time": "2026-11-26T10:00:00Z", "readings": {"power": 120.5, "voltage": 230.1}}

or an array of such objects. Metric names are the canonical ones of docs/interface.md in
their canonical units; `time` is ISO-8601 (local time in CITYSENSE_TIMEZONE when
it has no zone) or epoch seconds, and may be left out (receive time). The sensor
is `citysense:<device>` unless the object names it with `"sensor_id"`.
"""

from __future__ import annotations

import re

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, number
from ingest.decoders.timeparse import from_epoch, from_iso
from ingest.errors import DecodeError
from models.metrics import METRICS
from models.reading import Reading

_TOPIC = re.compile(r"citysense/json/(?P<device>[^/]+)")


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not citysense/json/<device>")
    doc = load(payload)
    objects = doc if isinstance(doc, list) else [doc]
    readings: list[Reading] = []
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise DecodeError(f"object {i}: not a JSON object")
        sensor = obj.get("sensor_id", f"citysense:{match['device']}")
        if not isinstance(sensor, str) or not sensor:
            raise DecodeError(f"object {i}: sensor_id must be a non-empty string")
        raw_time = obj.get("time")
        if raw_time is None:
            time = None
        elif isinstance(raw_time, str):
            time = from_iso(raw_time, ctx.tz)
        else:
            time = from_epoch(number(raw_time, f"object {i} time"))
        values = obj.get("readings")
        if not isinstance(values, dict) or not values:
            raise DecodeError(f"object {i}: 'readings' must be a non-empty object of metric: value")
        for metric, value in values.items():
            if metric not in METRICS:
                raise DecodeError(f"object {i}: unknown metric {metric!r}")
            readings.append(Reading(sensor, metric, number(value, f"object {i} {metric}"), time))
    return readings


FORMAT = Format(
    name="citysense-json",
    topic=re.compile(r"citysense/json/[^/]+"),
    subscriptions=("citysense/json/+",),
    decode=decode,
    description='citysense JSON: {"time", "readings": {metric: value}}',
)
