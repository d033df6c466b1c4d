"""What every decoder is: a pure function (topic, payload bytes, context) → readings.

No I/O, no clock, no asyncio: everything a decoder needs from outside (the local
time zone, the receive time, bin depths from the sensor registry) comes in the
context, so `citysense decode` and ingest run exactly the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from models.reading import Reading

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True, slots=True)
class DecodeContext:
    tz: ZoneInfo = BRUSSELS  # the zone of device times that carry none
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Bin depth (mm, sensor to bottom) per sensor id, from the sensor registry:
    # fill_level is derived from the raw distance with it.
    bin_depth_mm: Mapping[str, float] = field(default_factory=dict)


Decoder = Callable[[str, bytes, DecodeContext], list[Reading]]


@dataclass(frozen=True, slots=True)
class Format:
    """A payload format: which topics carry it, what to subscribe to, how to decode it."""

    name: str
    topic: re.Pattern[str]  # full match against the MQTT topic
    subscriptions: tuple[str, ...]  # default MQTT topic filters for this format
    decode: Decoder
    description: str = ""

    def matches(self, topic: str) -> bool:
        return self.topic.fullmatch(topic) is not None
