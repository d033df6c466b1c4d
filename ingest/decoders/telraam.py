"""Telraam traffic reports (API v1 `/reports/traffic`) forwarded on `telraam/<segment id>/traffic`.

    {"status_code":200,"report":[{"segment_id":348917,"date":"2020-10-30T07:00:00.000Z",
      "uptime":0.73,"bike":263.01,"car":619.18,"pedestrian":72.60,"heavy":78.08,"v85":25.5,…},…]}

One reading per mode and interval, stamped with the interval's start (`date`, UTC;
the `timezone` field only says where the segment is). Counts are floats because
Telraam extrapolates them by the camera's uptime: they are kept as they are, and
the uptime itself is a reading (`uptime`, 0..1): a low-uptime hour is data.
An interval with uptime 0 was not observed at all (night, camera off): its zeros
are not counts, so it has its uptime reading only (which also tells the poller
that the hour is stored). Left/right splits and speed histograms
are not stored. The sensor is `telraam:<segment id>` from the topic; a report
naming another segment is rejected.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, optional_number
from ingest.decoders.timeparse import from_iso
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "telraam"
_UTC = ZoneInfo("UTC")  # Telraam dates are UTC, also when they lack the Z

_TOPIC = re.compile(r"telraam/(?P<segment>[^/]+)/traffic")

_FIELDS: dict[str, str] = {
    "bike": "bikes",
    "car": "cars",
    "pedestrian": "pedestrians",
    "heavy": "heavy_vehicles",
    "v85": "speed_v85",
}


def _interval(item: object, i: int, segment: str) -> list[Reading]:
    where = f"report[{i}]"
    if not isinstance(item, dict):
        raise DecodeError(f"{where}: not a JSON object")
    _confirm(item, segment, where)
    uptime = optional_number(item.get("uptime"), f"{where} uptime")
    date = item.get("date")
    if not isinstance(date, str):
        raise DecodeError(f"{where}: no 'date' (interval start)")
    time = from_iso(date, _UTC)
    sensor = f"{SOURCE}:{segment}"
    out: list[Reading] = [] if uptime is None else [Reading(sensor, "uptime", uptime, time)]
    if uptime == 0.0:
        return out
    for field, metric in _FIELDS.items():
        value = optional_number(item.get(field), f"{where} {field}")
        if value is not None:
            out.append(Reading(sensor, metric, value, time))
    return out


def _confirm(item: dict[str, Any], segment: str, where: str) -> None:
    named = item.get("segment_id")
    if named is not None and str(named) != segment:
        raise DecodeError(f"{where}: segment_id {named!r} does not match the topic's segment {segment!r}")


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not telraam/<segment id>/traffic")
    doc = load(payload)
    if not isinstance(doc, dict):
        raise DecodeError("Telraam traffic report must be a JSON object")
    report = doc.get("report")
    if not isinstance(report, list):
        raise DecodeError(f"Telraam response has no 'report' array (status_code {doc.get('status_code')!r}: "
                          f"{doc.get('message')!r})")
    return [r for i, item in enumerate(report) for r in _interval(item, i, match["segment"])]


FORMAT = Format(
    name="telraam",
    topic=_TOPIC,
    subscriptions=("telraam/+/traffic",),
    decode=decode,
    description="Telraam API v1 traffic report JSON on telraam/<segment id>/traffic",
)
