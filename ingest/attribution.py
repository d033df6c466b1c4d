"""Which sensor a rejected message belongs to, from its topic alone. Pure.

A payload that decodes names its sensor through its readings; one that does not (bad JSON,
a bad CRC, a value out of range in a payload that never got that far) still came in on a
topic that, for most formats, names the device. The patterns mirror the decoders' topics
(ingest/decoders/*) and build the same ids. SenML and DSMR name the sensor only inside the
payload: a rejected one stays unattributed.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"citysense/json/(?P<d>[^/]+)"), "citysense:{d}"),
    (re.compile(r"shellies/(?P<d>[^/]+)/.+"), "shelly:{d}"),
    (re.compile(r"airrohr/(?P<d>[^/]+)"), "sensor.community:{d}"),
    (re.compile(r"v3/[^/]+/devices/(?P<d>[^/]+)/up"), "ttn:{d}"),
    (re.compile(r"application/[^/]+/device/(?P<d>[^/]+)/event/up"), "chirpstack:{d}"),
    (re.compile(r"telraam/(?P<d>[^/]+)/traffic"), "telraam:{d}"),
    (re.compile(r"zigbee2mqtt/(?!bridge(?:/|$))(?P<d>[^/]+)"), "zigbee2mqtt:{d}"),
    (re.compile(r"(?:.+/)?tele/(?P<d>[^/]+)/SENSOR"), "tasmota:{d}"),
    (re.compile(r"(?:.+/)?(?P<d>[^/]+)/tele/SENSOR"), "tasmota:{d}"),
    (re.compile(r"(?P<d>[^/]+)/(?:status/[^/]+|events/rpc)"), "shelly:{d}"),
)


def sensor_of_topic(topic: str) -> str | None:
    """The sensor id the topic names, or None when the topic names none."""
    if topic.startswith(("dsmr/", "citysense/senml/")):
        return None
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(topic)
        if match is not None:
            device = match["d"]
            return template.format(d=device.lower() if template.startswith("chirpstack") else device)
    return None
