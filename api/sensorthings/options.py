"""The query options of a SensorThings request ($top, $skip, $count, $orderby, $select, $expand,
$filter, and our $skiptoken) and its resource path (`Things('x')/Datastreams`). Pure.

Options are checked against the entity type the path ends at (api.sensorthings.model), so every
mistake is a 400 with the reason before any SQL runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from api.sensorthings.errors import BadOption
from api.sensorthings.filtering import Path, Predicate, parse_filter
from api.sensorthings.model import ENTITIES, EntityType

KNOWN_OPTIONS = frozenset({"$top", "$skip", "$count", "$orderby", "$select", "$expand", "$filter", "$skiptoken",
                           "$resultFormat"})


@dataclass(frozen=True, slots=True)
class Order:
    path: Path
    descending: bool = False


@dataclass(frozen=True, slots=True)
class QueryOptions:
    top: int
    skip: int = 0
    count: bool = False
    orderby: tuple[Order, ...] = ()
    select: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    filter: Predicate | None = None
    skiptoken: datetime | None = None  # Observations: continue after this phenomenonTime (keyset paging)


def _int(name: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise BadOption(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


def _names(name: str, text: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise BadOption(f"{name}: empty item in {text!r}")
    return items


def _orderby(text: str, et: EntityType) -> tuple[Order, ...]:
    out: list[Order] = []
    for item in _names("$orderby", text):
        words = item.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BadOption(f"$orderby: {item!r} is not '<property> [asc|desc]'")
        path = tuple(words[0].replace("@iot.id", "id").split("/"))
        if path not in et.sortable:
            known = ", ".join("/".join(p) for p in et.sortable)
            raise BadOption(f"$orderby: {et.plural} cannot be ordered by {words[0]!r}; by one of {known}")
        out.append(Order(path, len(words) == 2 and words[1].lower() == "desc"))
    return tuple(out)


def _select(text: str, et: EntityType) -> tuple[str, ...]:
    items = _names("$select", text)
    for item in items:
        if item not in et.selectable:
            raise BadOption(f"$select: {et.plural} have no property {item!r}; one of {', '.join(et.selectable)}")
    return tuple(items)


def _expand(text: str, et: EntityType) -> tuple[str, ...]:
    items = _names("$expand", text)
    for item in items:
        if "(" in item or "/" in item:
            raise BadOption(f"$expand: {item!r}: one level without options is supported, e.g. $expand=Thing")
        if item not in et.links:
            raise BadOption(f"$expand: {et.plural} have no navigation property {item!r}; "
                            f"one of {', '.join(et.links)}")
        if ENTITIES[et.links[item]].name == "Observation":
            raise BadOption(f"$expand: {item} cannot be expanded; page through /{et.plural}(id)/{item}")
    return tuple(items)


def _skiptoken(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadOption(f"$skiptoken: {text!r} is not one this service handed out") from None
    if t.tzinfo is None:
        raise BadOption(f"$skiptoken: {text!r} is not one this service handed out")
    return t.astimezone(UTC)


def parse_options(params: Mapping[str, str], et: EntityType, default_top: int, max_top: int) -> QueryOptions:
    """The options of a request whose path ends at entities of type `et`. $top above `max_top` is
    lowered to it (the answer then carries an @iot.nextLink), as SensorThings servers do."""
    unknown = sorted(k for k in params if k.startswith("$") and k not in KNOWN_OPTIONS)
    if unknown:
        raise BadOption(f"unknown query option {unknown[0]}; known: {', '.join(sorted(KNOWN_OPTIONS))}")
    if params.get("$resultFormat", "default") != "default":
        raise BadOption("$resultFormat: only the default format is supported")
    top = min(_int("$top", params["$top"]), max_top) if "$top" in params else default_top
    skip = _int("$skip", params["$skip"]) if "$skip" in params else 0
    count_text = params.get("$count", "false").strip().lower()
    if count_text not in ("true", "false"):
        raise BadOption(f"$count must be true or false, not {params['$count']!r}")
    skiptoken = None
    if "$skiptoken" in params:
        if not et.keyset:
            raise BadOption(f"$skiptoken: not used for {et.plural}; page with $skip")
        skiptoken = _skiptoken(params["$skiptoken"])
    return QueryOptions(
        top=top,
        skip=skip,
        count=count_text == "true",
        orderby=_orderby(params["$orderby"], et) if "$orderby" in params else (),
        select=_select(params["$select"], et) if "$select" in params else (),
        expand=_expand(params["$expand"], et) if "$expand" in params else (),
        filter=parse_filter(params["$filter"], et.filterable, et.plural) if "$filter" in params else None,
        skiptoken=skiptoken,
    )
