"""LoRaWAN uplinks from The Things Stack v3 and ChirpStack v4 MQTT integrations.

* The Things Stack: `v3/<app>@<tenant>/devices/<device id>/up`, sensor `ttn:<device id>`.
  Time: the Application Server's top-level `received_at`, else the Network Server's
  `uplink_message.received_at`, else the first gateway's `rx_metadata[0].time`
  (nanosecond RFC 3339, cut to microseconds).
* ChirpStack v4: `application/<id>/device/<dev eui>/event/up`, sensor
  `chirpstack:<dev eui, lower case>`; time from `time` (else the first gateway's).

The network server's own decoded payload (`uplink_message.decoded_payload`,
`object`) is used when there is one, mapping the field names payload formatters
commonly use. Otherwise the raw frame (`frm_payload`/`data`, base64) is decoded
here when its port has a built-in codec (85: Milesight); anything else is
rejected, so an undecodable device shows up in the dead-letter table instead of
vanishing. An uplink without application payload has no readings.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.decoders import milesight
from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, number
from ingest.decoders.timeparse import from_iso
from ingest.errors import DecodeError
from models.reading import Reading

_TTN_TOPIC = re.compile(r"v3/[^/]+/devices/(?P<device>[^/]+)/up")
_CHIRPSTACK_TOPIC = re.compile(r"application/[^/]+/device/(?P<eui>[^/]+)/event/up")

# Raw-frame codecs by LoRaWAN port.
_CODECS: dict[int, Callable[[bytes], dict[str, float]]] = {85: milesight.decode}

# Decoded-payload field (lower case) → metric; values are taken in the metric's canonical unit. Only
# names whose unit is not in doubt: o3/no2 (ppm or ug/m3?) and energy (Wh or kWh?) are left out.
_FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "temp": "temperature",
    "humidity": "humidity",
    "battery": "battery",
    "co2": "co2",
    "pm1": "pm1",
    "pm1_0": "pm1",
    "pm2_5": "pm25",
    "pm25": "pm25",
    "pm10": "pm10",
    "pressure": "pressure",
    "distance": "distance",
    "fill_level": "fill_level",
    "position": "tilted",
    "tilt": "tilted",
    "tilted": "tilted",
}
# Milesight's formatters write the EM310 position as text.
_POSITIONS: dict[str, float] = {"normal": 0.0, "tilt": 1.0}


def _flag(value: object, field: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in _POSITIONS:
        return _POSITIONS[value]
    result = number(value, f"decoded {field}")
    if result not in (0.0, 1.0):
        raise DecodeError(f"decoded {field}: {value!r} is neither normal/0 nor tilt/1")
    return result


def _from_decoded(decoded: dict[str, Any], sensor: str, time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    for field, value in decoded.items():
        metric = _FIELDS.get(field.lower())  # formatters write "Temperature" as often as "temperature"
        if metric is None or value is None or isinstance(value, dict | list):
            continue
        result = _flag(value, field) if metric == "tilted" else number(value, f"decoded {field}")
        out.append(Reading(sensor, metric, result, time))
    return out


def _from_frame(frame: object, port: object, sensor: str, time: datetime | None) -> list[Reading]:
    if frame is None or frame == "":
        return []  # no application payload (a MAC-only or empty frame)
    if not isinstance(frame, str):
        raise DecodeError("frame payload must be a base64 string")
    codec = _CODECS.get(port) if isinstance(port, int) and not isinstance(port, bool) else None
    if codec is None:
        raise DecodeError(f"no decoded payload and no codec for f_port {port if port is not None else '(none)'}")
    try:
        data = binascii.a2b_base64(frame, strict_mode=True)
    except binascii.Error as exc:
        raise DecodeError(f"frame payload is not base64: {exc}") from None
    return [Reading(sensor, metric, value, time) for metric, value in codec(data).items()]


def _time(*candidates: object, ctx: DecodeContext) -> datetime | None:
    for raw in candidates:
        if isinstance(raw, str):
            return from_iso(raw, ctx.tz)
    return None


def _first_time(rx: object) -> object:
    if isinstance(rx, list) and rx and isinstance(rx[0], dict):
        return rx[0].get("time")
    return None


def _readings(decoded: object, frame: object, port: object, sensor: str, time: datetime | None) -> list[Reading]:
    if isinstance(decoded, dict) and decoded:
        return _from_decoded(decoded, sensor, time)
    return _from_frame(frame, port, sensor, time)


def decode_ttn(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _TTN_TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not v3/<app>/devices/<device>/up")
    doc = load(payload)
    if not isinstance(doc, dict) or not isinstance(doc.get("uplink_message"), dict):
        raise DecodeError("The Things Stack uplink must be a JSON object with an 'uplink_message' object")
    up = doc["uplink_message"]
    time = _time(doc.get("received_at"), up.get("received_at"), _first_time(up.get("rx_metadata")), ctx=ctx)
    return _readings(up.get("decoded_payload"), up.get("frm_payload"), up.get("f_port"),
                     f"ttn:{match['device']}", time)


def decode_chirpstack(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _CHIRPSTACK_TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not application/<id>/device/<eui>/event/up")
    doc = load(payload)
    if not isinstance(doc, dict):
        raise DecodeError("ChirpStack uplink event must be a JSON object")
    time = _time(doc.get("time"), _first_time(doc.get("rxInfo")), ctx=ctx)
    return _readings(doc.get("object"), doc.get("data"), doc.get("fPort"),
                     f"chirpstack:{match['eui'].lower()}", time)


FORMAT_TTN = Format(
    name="ttn-v3",
    topic=_TTN_TOPIC,
    subscriptions=("v3/+/devices/+/up",),
    decode=decode_ttn,
    description="The Things Stack v3 uplink JSON on v3/<app>@<tenant>/devices/<device>/up",
)

FORMAT_CHIRPSTACK = Format(
    name="chirpstack-v4",
    topic=_CHIRPSTACK_TOPIC,
    subscriptions=("application/+/device/+/event/up",),
    decode=decode_chirpstack,
    description="ChirpStack v4 uplink event JSON on application/<id>/device/<eui>/event/up",
)

FORMATS = (FORMAT_TTN, FORMAT_CHIRPSTACK)
