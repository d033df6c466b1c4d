"""The live bus: committed readings, republished by ingest so API processes can stream them.

The broker is the bus, so any number of ingest and API replicas meet on it. One
message per committed batch, columnar to keep it compact:

    topic  <CITYSENSE_INGEST_LIVE_TOPIC>/readings        (default citysense/live/readings)
    body   {"t": [epoch ms…], "s": [sensor id…], "m": [metric…], "v": [value…]}

QoS 0: it is a notification, not the record; the database is the record. A batch
that held redelivered readings republishes them, so a live client may see a
reading twice; the API de-duplicates nothing here on purpose (it cannot know).

The wire format is ground shared by both sides: ingest encodes, the API (api.live.bus) decodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

import orjson

# Larger batches are split so no bus message nears the broker's packet limit
# (max_packet_size 256 KiB in the shipped configs): Mosquitto disconnects a client
# that sends a bigger packet. A reading costs ~60-90 bytes here, so 1000 readings
# stay far below it even with long sensor ids.
MAX_READINGS_PER_MESSAGE = 1000


class Columns(Protocol):
    """A committed batch as the bus sees it, column by column (ingest.prepare.PreparedBatch is one)."""

    @property
    def times(self) -> Sequence[datetime]: ...
    @property
    def sensor_ids(self) -> Sequence[str]: ...
    @property
    def metrics(self) -> Sequence[str]: ...
    @property
    def values(self) -> Sequence[float]: ...
    def __len__(self) -> int: ...


def bus_topic(base: str) -> str:
    return f"{base.rstrip('/')}/readings"


def encode(batch: Columns) -> Iterator[bytes]:
    n = len(batch)
    for lo in range(0, n, MAX_READINGS_PER_MESSAGE):
        hi = min(n, lo + MAX_READINGS_PER_MESSAGE)
        yield orjson.dumps({
            "t": [int(t.timestamp() * 1000) for t in batch.times[lo:hi]],
            "s": batch.sensor_ids[lo:hi],
            "m": batch.metrics[lo:hi],
            "v": batch.values[lo:hi],
        })


def decode(payload: bytes) -> list[tuple[int, str, str, float]]:
    """(epoch ms, sensor id, metric, value) per reading; ValueError for anything malformed."""
    try:
        body = orjson.loads(payload)
        t, s, m, v = body["t"], body["s"], body["m"], body["v"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"malformed live-bus message: {exc}") from None
    if not (len(t) == len(s) == len(m) == len(v)):
        raise ValueError("malformed live-bus message: columns of different lengths")
    return list(zip(t, s, m, v, strict=True))
