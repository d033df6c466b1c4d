"""SensorThings JSON documents: an entity with its self and navigation links, `$select` applied; a page
of a collection filtered, ordered and cut by the query options; the @iot.nextLink. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from api.sensorthings.filtering import Value, matches
from api.sensorthings.graph import Entity
from api.sensorthings.model import ENTITIES, format_time, observation_id, quote_id
from api.sensorthings.options import Order, QueryOptions


def entity_url(base: str, type_name: str, entity_id: str) -> str:
    return f"{base}/{ENTITIES[type_name].plural}({quote_id(entity_id)})"


def render(
    base: str, type_name: str, entity_id: str, doc: Mapping[str, Any], select: Sequence[str] = ()
) -> dict[str, Any]:
    """The document with @iot.id, @iot.selfLink and a navigation link per navigation property."""
    et = ENTITIES[type_name]
    self_link = entity_url(base, type_name, entity_id)
    out: dict[str, Any] = {"@iot.id": entity_id, "@iot.selfLink": self_link, **doc}
    for name in et.links:
        out[f"{name}@iot.navigationLink"] = f"{self_link}/{name}"
    if not select:
        return out
    keep = {"@iot.id" if s == "id" else "@iot.selfLink" if s == "selfLink" else
            f"{s}@iot.navigationLink" if s in et.links else s for s in select}
    return {k: v for k, v in out.items() if k in keep}


def observation_page(
    base: str, ds_id: str, rows: Sequence[tuple[datetime, float]], select: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The documents of a page of a Datastream's Observations: what render() makes of each, built
    from strings shared by the page (a page holds up to CITYSENSE_STA_MAX_TOP of them)."""
    prefix = f"{base}/Observations('{ds_id.replace(chr(39), chr(39) * 2)}@"
    # format_time() for the whole page in one call of orjson's C code (the same RFC 3339 text as
    # isoformat(); profiled: the per-row isoformat() was half of a page's Python time).
    times = [t if t.tzinfo is UTC else t.astimezone(UTC) for t, _ in rows]
    texts: list[str] = orjson.loads(orjson.dumps(times, option=orjson.OPT_UTC_Z))
    out = []
    for text, (_, value) in zip(texts, rows, strict=True):
        self_link = f"{prefix}{text}')"
        out.append({
            "@iot.id": f"{ds_id}@{text}", "@iot.selfLink": self_link, "phenomenonTime": text, "resultTime": None,
            "result": value, "Datastream@iot.navigationLink": f"{self_link}/Datastream",
            "FeatureOfInterest@iot.navigationLink": f"{self_link}/FeatureOfInterest",
        })
    if select:
        keep = set(render(base, "Observation", "x", {"phenomenonTime": "", "resultTime": None, "result": 0.0},
                          select))
        out = [{k: v for k, v in doc.items() if k in keep} for doc in out]
    return out


def observation_doc(ds_id: str, time: datetime, value: float) -> tuple[str, dict[str, Any]]:
    """(id, document) of one reading; readings carry no separate result time."""
    return observation_id(ds_id, time), {"phenomenonTime": format_time(time), "resultTime": None, "result": value}


def _sort_key(e: Entity, order: Order) -> tuple[bool, Value]:
    v = e.props.get(order.path)
    return (v is None, v if v is not None else "")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Entity]
    count: int  # how many matched the filter (before $skip/$top)
    more: bool


def page(entities: Sequence[Entity], opts: QueryOptions) -> Page:
    """Filter, order (by id after the given orders, so pages are stable), skip and cut."""
    chosen = [e for e in entities if opts.filter is None or matches(opts.filter, e.props)]
    chosen.sort(key=lambda e: e.id)
    for order in reversed(opts.orderby):
        chosen.sort(key=lambda e, o=order: _sort_key(e, o), reverse=order.descending)  # type: ignore[misc]
    window = chosen[opts.skip:opts.skip + opts.top]
    # $top=0 asks for the count alone: no next page, which would be the same empty one.
    return Page(window, len(chosen), opts.top > 0 and opts.skip + opts.top < len(chosen))


def next_link(base: str, path: str, params: Mapping[str, str], **changes: str | None) -> str:
    """The same request with some options changed (None: dropped)."""
    merged = {k: v for k, v in params.items() if k not in changes}
    merged.update({k: v for k, v in changes.items() if v is not None})
    return f"{base}/{path}?{urlencode(merged)}"


def collection(values: list[dict[str, Any]], count: int | None, next_url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if count is not None:
        out["@iot.count"] = count
    if next_url is not None:
        out["@iot.nextLink"] = next_url
    out["value"] = values
    return out
