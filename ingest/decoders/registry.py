"""Which decoder handles which topic. The first format whose topic pattern matches wins."""

from __future__ import annotations

from ingest.decoders import citysense_json, senml
from ingest.decoders.base import DecodeContext, Format
from ingest.errors import UnknownTopic
from models.reading import Reading

# Order matters where patterns overlap: the most specific formats come first.
FORMATS: tuple[Format, ...] = (
    senml.FORMAT,
    citysense_json.FORMAT,
)


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
