"""Simulated values → the exact MQTT messages real devices publish. Pure.

Each encoder writes its vendor's payload the way the device does (the reference
payloads in tests/fixtures/payloads are the templates: same keys,
key order, nesting, number formatting, units and time formats), and states the
readings ingest must decode from it: the values as written in the payload (after
the device's rounding, converted to canonical units) and the time the payload
carries (None when it carries none, so ingest stamps the receive time).

Units that trip people up, as the devices have them: Tasmota `Time` is local time
without a zone, Shelly Gen1 relay energy is in watt-minutes, Shelly Gen2
`aenergy.total` in Wh, Sensor.Community values are strings and its pressure is in
Pa, DSMR timestamps are local YYMMDDhhmmss with S/W and the telegram ends in a
CRC-16/ARC, The Things Stack times are RFC 3339 with nanoseconds.

One module per vendor, like ingest/decoders/; this package maps a sensor's format to its
encoder (ENCODERS, encode) and re-exports the names the simulators and tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from simulators.encoders.base import BRUSSELS as BRUSSELS
from simulators.encoders.base import Message as Message
from simulators.encoders.base import Sample as Sample
from simulators.encoders.base import as_decoded_local as as_decoded_local
from simulators.encoders.base import utc as utc
from simulators.encoders.dsmr import crc16_arc as crc16_arc
from simulators.encoders.dsmr import dsmr
from simulators.encoders.dsmr import dsmr_stamp as dsmr_stamp
from simulators.encoders.lorawan import chirpstack, ttn
from simulators.encoders.lorawan import rfc3339_ns as rfc3339_ns
from simulators.encoders.milesight import milesight_frame as milesight_frame
from simulators.encoders.senml import senml
from simulators.encoders.sensor_community import sensor_community
from simulators.encoders.shelly import shelly_gen1, shelly_gen2_rpc, shelly_gen2_status
from simulators.encoders.tasmota import tasmota
from simulators.encoders.telraam import telraam
from simulators.encoders.zigbee2mqtt import zigbee2mqtt

ENCODERS: Mapping[str, Callable[[Sample], list[Message]]] = {
    "tasmota": tasmota,
    "shelly-gen2-status": shelly_gen2_status,
    "shelly-gen2-rpc": shelly_gen2_rpc,
    "shelly-gen1": shelly_gen1,
    "dsmr": dsmr,
    "zigbee2mqtt": zigbee2mqtt,
    "sensor-community": sensor_community,
    "ttn": ttn,
    "chirpstack": chirpstack,
    "telraam": telraam,
    "senml": senml,
}


def encode(sample: Sample) -> list[Message]:
    return ENCODERS[sample.sensor.format](sample)
