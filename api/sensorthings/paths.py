"""Resource paths of the SensorThings API: `Things`, `Things('x')`, `Things('x')/Datastreams`,
`Datastreams('x')/Observations`… as a list of segments, checked against the data model. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from api.sensorthings.errors import BadOption, NotFound
from api.sensorthings.model import BY_PLURAL, ENTITIES, EntityType


@dataclass(frozen=True, slots=True)
class Segment:
    type: EntityType
    id: str | None  # None: the collection (or the one entity a to-one link leads to)
    many: bool  # a collection (before an id narrows it)
    link: str | None = None  # the navigation property that led here; None for the entity set


_SEGMENT = re.compile(r"(?P<name>[A-Za-z]+)(?:\((?P<key>'(?:[^']|'')*'|\d+)\))?")


def _key(text: str | None) -> str | None:
    if text is None:
        return None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return text  # an integer id: no entity here has one, so it is simply not found


def parse_path(path: str) -> list[Segment]:
    """The segments of a path below /sta/v1.1 (without leading slash); [] for the service root."""
    parts = [p for p in _split(path.strip("/")) if p]
    segments: list[Segment] = []
    for i, part in enumerate(parts):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise BadOption(f"bad path segment {part!r}: use EntitySet or EntitySet('id')")
        name, key = m["name"], _key(m["key"])
        if i == 0:
            if name not in BY_PLURAL:
                raise NotFound(f"no entity set {name!r}; one of {', '.join(BY_PLURAL)}")
            segments.append(Segment(BY_PLURAL[name], key, True))
            continue
        prev = segments[-1]
        if prev.many and prev.id is None:
            raise BadOption(f"{prev.type.plural}: name one entity, e.g. {prev.type.plural}('id')/{name}")
        if name in ("$value", "$ref") or name in prev.type.properties:
            raise BadOption(f"{part}: addressing a property or a reference is not supported; use $select")
        if name not in prev.type.links:
            raise NotFound(f"{prev.type.name} has no navigation property {name!r}; "
                           f"one of {', '.join(prev.type.links)}")
        many = name in prev.type.many
        if key is not None and not many:
            raise BadOption(f"{name} is a single entity: no id after it")
        segments.append(Segment(ENTITIES[prev.type.links[name]], key, many, name))
    return segments


def _split(path: str) -> list[str]:
    """Split on '/' outside quoted ids (a sensor id may hold a slash)."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in path:
        if ch == "'":
            quoted = not quoted
        if ch == "/" and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out
