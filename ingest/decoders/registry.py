"""Which decoder handles which topic. The first format whose topic pattern matches wins."""

from __future__ import annotations

import functools

from ingest.decoders import (
    citysense_json,
    dsmr,
    lorawan,
    senml,
    sensor_community,
    shelly,
    tasmota,
    telraam,
    zigbee2mqtt,
)
from ingest.decoders.base import DecodeContext, Format
from ingest.errors import UnknownTopic
from models.reading import Reading

# Order matters where patterns overlap: the most specific formats come first. Those with a fixed
# first level lead; Tasmota (any prefix before `tele`) and Shelly Gen2 (any prefix before `/status/`
# or `/events/rpc`) follow, so `dsmr/x/status/y` stays DSMR and `zigbee2mqtt/lamp/status/z` Zigbee2MQTT.
FORMATS: tuple[Format, ...] = (
    senml.FORMAT,
    citysense_json.FORMAT,
    shelly.FORMAT_GEN1,
    dsmr.FORMAT,
    sensor_community.FORMAT,
    lorawan.FORMAT_TTN,
    lorawan.FORMAT_CHIRPSTACK,
    telraam.FORMAT,
    zigbee2mqtt.FORMAT,
    tasmota.FORMAT,
    shelly.FORMAT_GEN2,
)


# A fleet publishes on a fixed set of topics; matching them against every pattern cost ~5 % of
# ingest's main thread in a profile (py-spy, backlog drain). Unknown topics raise and are not cached.
@functools.lru_cache(maxsize=65536)
def format_for(topic: str) -> Format:
    for fmt in FORMATS:
        if fmt.matches(topic):
            return fmt
    raise UnknownTopic(topic)


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """Decode one MQTT message. Raises a subclass of ingest.errors.Rejected, nothing else."""
    return format_for(topic).decode(topic, payload, ctx)


def default_subscriptions() -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for fmt in FORMATS:
        for sub in fmt.subscriptions:
            seen.setdefault(sub)
    return tuple(seen)
