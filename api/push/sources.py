"""Where a pushed payload goes: per source, the content types it may come with and the MQTT topic it
gets, which is the topic the same device would publish on over MQTT (so it gets the same sensor id).
Pure: headers, query and body in, a topic or a refusal out.

* `ttn`: The Things Stack webhook body (the uplink message, as on MQTT): `v3/<app>@<tenant>/devices/<device>/up`
  from `end_device_ids`, the tenant from `uplink_message.network_ids.tenant_id` (`ttn` when absent).
* `chirpstack`: the HTTP integration's JSON event (`?event=up`): `application/<id>/device/<eui>/event/up`
  from `deviceInfo`.
* `sensor-community`: the airrohr push: `airrohr/<X-Sensor>` (`esp8266-<chip id>`), else
  `airrohr/esp8266-<esp8266id of the body>`. The body is never changed: the device id travels in the
  topic, where ingest's decoder takes it from (ingest.decoders.sensor_community).
* `senml`: `citysense/senml/http` (the pack's base name names the sensor, not the topic).
* `json/{device}`: `citysense/json/<device>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from ingest.errors import DecodeError

JSON = "application/json"
SENML = "application/senml+json"


class Source(StrEnum):
    TTN = "ttn"
    CHIRPSTACK = "chirpstack"
    SENSOR_COMMUNITY = "sensor-community"
    SENML = "senml"
    JSON = "json"


# The media types each source may be sent with. SenML senders that cannot set their own type may use JSON.
CONTENT_TYPES: Mapping[Source, frozenset[str]] = {
    Source.TTN: frozenset({JSON}),
    Source.CHIRPSTACK: frozenset({JSON}),
    Source.SENSOR_COMMUNITY: frozenset({JSON}),
    Source.SENML: frozenset({SENML, JSON}),
    Source.JSON: frozenset({JSON}),
}

# MQTT topic levels may not hold these; a device id with one cannot name a topic.
_NOT_IN_A_LEVEL = frozenset("/+#\x00")
MAX_LEVEL = 200


class Unroutable(DecodeError):
    """The payload cannot be given a topic: it does not name its device (answered 422 and dead-lettered
    like any payload its decoder refuses)."""


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json` ('' when absent)."""
    return (content_type or "").partition(";")[0].strip().lower()


def accepts(source: Source, content_type: str | None) -> bool:
    return media_type(content_type) in CONTENT_TYPES[source]


def topic_level(value: object, what: str) -> str:
    """A device or application id as one MQTT topic level, or Unroutable saying why not."""
    if not isinstance(value, str) or not value:
        raise Unroutable(f"no {what}")
    if len(value) > MAX_LEVEL or any(c in _NOT_IN_A_LEVEL for c in value):
        raise Unroutable(f"{what} {value[:60]!r} cannot name an MQTT topic level (no '/', '+', '#', NUL; "
                         f"at most {MAX_LEVEL} characters)")
    return value


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unroutable(f"{what} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Unroutable(f"{what} must be a JSON object")
    return doc


def _field(doc: Mapping[str, Any], *path: str) -> object:
    node: object = doc
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def ttn_topic(body: bytes) -> str:
    doc = _object(body, "The Things Stack webhook body")
    device = topic_level(_field(doc, "end_device_ids", "device_id"), "end_device_ids.device_id")
    app = topic_level(_field(doc, "end_device_ids", "application_ids", "application_id"),
                      "end_device_ids.application_ids.application_id")
    tenant = _field(doc, "uplink_message", "network_ids", "tenant_id")
    tenant = topic_level(tenant, "uplink_message.network_ids.tenant_id") if tenant is not None else "ttn"
    return f"v3/{app}@{tenant}/devices/{device}/up"


def chirpstack_topic(body: bytes) -> str:
    doc = _object(body, "ChirpStack event")
    app = topic_level(_field(doc, "deviceInfo", "applicationId"), "deviceInfo.applicationId")
    eui = topic_level(_field(doc, "deviceInfo", "devEui"), "deviceInfo.devEui")
    return f"application/{app}/device/{eui}/event/up"


def airrohr_topic(x_sensor: str | None, body: bytes) -> str:
    """The station from its `X-Sensor` header (every airrohr push has one); a sender that leaves it out
    may name the chip in the body's `esp8266id` instead."""
    if x_sensor:
        return f"airrohr/{topic_level(x_sensor.strip(), 'X-Sensor header')}"
    chip = _field(_object(body, "airrohr push"), "esp8266id")
    if isinstance(chip, int) and not isinstance(chip, bool):
        chip = str(chip)
    if not isinstance(chip, str) or not chip:
        raise Unroutable("no X-Sensor header and no esp8266id in the body: the station is unnamed")
    return f"airrohr/esp8266-{topic_level(chip, 'esp8266id')}"


def json_topic(device: str) -> str:
    return f"citysense/json/{topic_level(device, 'device')}"


SENML_TOPIC = "citysense/senml/http"


@dataclass(frozen=True, slots=True)
class Pushed:
    """One POST as the intake sees it."""

    source: Source
    body: bytes
    x_sensor: str | None = None
    device: str | None = None  # json/{device}


def topic_for(p: Pushed) -> str:
    """The topic the payload goes out on, or Unroutable."""
    if p.source is Source.TTN:
        return ttn_topic(p.body)
    if p.source is Source.CHIRPSTACK:
        return chirpstack_topic(p.body)
    if p.source is Source.SENSOR_COMMUNITY:
        return airrohr_topic(p.x_sensor, p.body)
    if p.source is Source.SENML:
        return SENML_TOPIC
    assert p.device is not None
    return json_topic(p.device)
