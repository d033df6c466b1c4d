"""JSON parsing shared by the decoders, with one error type and one message shape."""

from __future__ import annotations

import math
from typing import Any

import orjson

from ingest.errors import DecodeError


def load(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None


def number(value: object, what: str) -> float:
    """A JSON number (or a numeric string, as Sensor.Community sends) as a finite float."""
    if isinstance(value, bool):
        raise DecodeError(f"{what}: {value!r} is not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise DecodeError(f"{what}: {value!r} is not a number") from None
    else:
        raise DecodeError(f"{what}: {value!r} is not a number")
    if not math.isfinite(result):
        raise DecodeError(f"{what}: {value!r} is not finite")
    return result


def optional_number(value: object, what: str) -> float | None:
    """Like `number`, but JSON null (a field the device could not measure) is None, not an error."""
    return None if value is None else number(value, what)
