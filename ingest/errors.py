"""Why a message was rejected. Every rejection lands in the dead-letter table with its message."""

from __future__ import annotations


class Rejected(Exception):
    """A payload (or some of its readings) that cannot be stored. Never stops the stream."""


class UnknownTopic(Rejected):
    def __init__(self, topic: str) -> None:
        super().__init__(f"no decoder for topic {topic!r}")


class DecodeError(Rejected):
    """The payload is not what its format says it is (bad JSON, missing field, bad CRC…)."""


class InvalidReading(Rejected):
    """A decoded value fails validation (not finite, outside its metric's range, from the future…)."""


class OversizePayload(Rejected):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the limit of {limit} bytes")


class UnknownSensor(Rejected):
    def __init__(self, sensor_id: str) -> None:
        super().__init__(f"unknown sensor {sensor_id!r} (strict mode: register it first)")
