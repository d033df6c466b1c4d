"""Answering a SensorThings request: follow the resource path through the entities the caller may see,
then apply the query options. The layer between the route and the SQL (api.queries.sensorthings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from api.queries import sensorthings as sql
from api.sensorthings.documents import (
    collection,
    next_link,
    observation_doc,
    observation_page,
    page,
    render,
)
from api.sensorthings.errors import BadOption, NotFound
from api.sensorthings.graph import Entity, Graph, build_graph
from api.sensorthings.model import (
    BY_PLURAL,
    ENTITIES,
    format_time,
    split_datastream_id,
    split_observation_id,
)
from api.sensorthings.options import QueryOptions, parse_options
from api.sensorthings.paths import Segment, parse_path

CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]


@dataclass(frozen=True, slots=True)
class StaRequest:
    base: str  # the service root, e.g. http://host/sta/v1.1
    path: str  # below the root, without leading slash
    params: Mapping[str, str]
    include_private: bool
    default_top: int
    max_top: int


@dataclass(frozen=True, slots=True)
class _Single:
    entity: Entity


@dataclass(frozen=True, slots=True)
class _Many:
    type_name: str
    entities: list[Entity]


@dataclass(frozen=True, slots=True)
class _Observations:
    datastream: Entity


@dataclass(frozen=True, slots=True)
class _Observation:
    datastream: Entity
    id: str
    doc: dict[str, Any]


def root(base: str) -> dict[str, Any]:
    return {
        "value": [{"name": t.plural, "url": f"{base}/{t.plural}"} for t in ENTITIES.values()],
        "serverSettings": {"conformance": CONFORMANCE},
    }


async def _graph(conn: asyncpg.Connection, segments: list[Segment], include_private: bool) -> Graph:
    """The entities the path can reach. A path that starts at one Thing or Datastream and stays
    with it needs only that sensor's rows; any other reads the whole (visible) registry."""
    first = segments[0]
    narrow = first.id is not None and (len(segments) == 1 or segments[1].link in ("Observations", "Locations",
                                                                                    "Datastreams", "Thing"))
    sensor_id = metric = None
    if narrow and first.type.name == "Datastream":
        sensor_id, metric = split_datastream_id(first.id or "")
    elif narrow and first.type.name == "Thing":
        sensor_id = first.id
    elif narrow and first.type.name == "Observation":
        sensor_id, metric = split_datastream_id(split_observation_id(first.id or "")[0])
    sensors = await sql.sensors(conn, include_private, sensor_id)
    series = await sql.series(conn, include_private, sensor_id, metric) if sensors else []
    return build_graph(sensors, series)


def _get(graph: Graph, type_name: str, entity_id: str) -> Entity:
    e = graph.get(type_name, entity_id)
    if e is None:
        raise NotFound(f"no {type_name} {entity_id!r}")
    return e


async def _observation(conn: asyncpg.Connection, graph: Graph, obs_id: str) -> _Observation:
    ds_id, time = split_observation_id(obs_id)
    ds = _get(graph, "Datastream", ds_id)
    sensor_id, metric = split_datastream_id(ds_id)
    value = await sql.observation_at(conn, sensor_id, metric, time)
    if value is None:
        raise NotFound(f"no Observation {obs_id!r}")
    oid, doc = observation_doc(ds_id, time, value)
    return _Observation(ds, oid, doc)


_Target = _Single | _Many | _Observations | _Observation
_PER_DATASTREAM = "Observations are listed per Datastream: /Datastreams('<sensor id>:<metric>')/Observations"


async def _walk(conn: asyncpg.Connection, graph: Graph, segments: list[Segment]) -> _Target:
    at: _Target
    first = segments[0]
    if first.type.name == "Observation":
        if first.id is None:
            raise BadOption(_PER_DATASTREAM)
        at = await _observation(conn, graph, first.id)
    elif first.id is None:
        at = _Many(first.type.name, graph.all(first.type.name))
    else:
        at = _Single(_get(graph, first.type.name, first.id))
    for seg in segments[1:]:
        if isinstance(at, _Observation):
            sensor_id, _ = split_datastream_id(at.datastream.id)
            at = _Single(at.datastream if seg.link == "Datastream" else _get(graph, "FeatureOfInterest", sensor_id))
            continue
        assert isinstance(at, _Single)
        assert seg.link is not None
        if seg.type.name == "Observation":
            if at.entity.type != "Datastream":
                raise BadOption(_PER_DATASTREAM)
            if seg.id is None:
                at = _Observations(at.entity)
                continue
            found = await _observation(conn, graph, seg.id)
            if found.datastream.id != at.entity.id:
                raise NotFound(f"no Observation {seg.id!r} in Datastream {at.entity.id!r}")
            at = found
            continue
        ids = at.entity.related[seg.link]
        if seg.many and seg.id is None:
            at = _Many(seg.type.name, [_get(graph, seg.type.name, i) for i in ids])
        elif seg.many:
            if seg.id not in ids:
                raise NotFound(f"no {seg.type.name} {seg.id!r} in {at.entity.type} {at.entity.id!r}")
            at = _Single(_get(graph, seg.type.name, seg.id))
        elif not ids:
            raise NotFound(f"{at.entity.type} {at.entity.id!r} has no {seg.link}")
        else:
            at = _Single(_get(graph, seg.type.name, ids[0]))
    return at


def _document(req: StaRequest, graph: Graph, e: Entity, opts: QueryOptions) -> dict[str, Any]:
    out = render(req.base, e.type, e.id, e.doc, opts.select)
    for nav in opts.expand:
        et = ENTITIES[e.type]
        target = et.links[nav]
        ids = e.related.get(nav, ())
        docs = [render(req.base, target, i, _get(graph, target, i).doc) for i in ids]
        out[nav] = docs if nav in et.many else (docs[0] if docs else None)
    return out


def _observation_document(req: StaRequest, graph: Graph, ds: Entity, oid: str, doc: dict[str, Any],
                          opts: QueryOptions) -> dict[str, Any]:
    out = render(req.base, "Observation", oid, doc, opts.select)
    for nav in opts.expand:
        if nav == "Datastream":
            out[nav] = render(req.base, "Datastream", ds.id, ds.doc)
        else:
            foi = _get(graph, "FeatureOfInterest", ds.related["Thing"][0])
            out[nav] = render(req.base, "FeatureOfInterest", foi.id, foi.doc)
    return out


async def _observations(conn: asyncpg.Connection, req: StaRequest, graph: Graph | None, ds_id: str,
                        opts: QueryOptions) -> dict[str, Any]:
    """A page of a Datastream's Observations; `graph` (the Datastream's entities) only for $expand."""
    sensor_id, metric = split_datastream_id(ds_id)
    descending = bool(opts.orderby) and opts.orderby[0].descending
    rows = await sql.observations(conn, sensor_id, metric, opts.filter, opts.skiptoken, descending,
                                  opts.top + 1, opts.skip)
    more = len(rows) > opts.top
    rows = rows[:opts.top]
    if opts.expand:
        assert graph is not None
        ds = _get(graph, "Datastream", ds_id)
        values = [_observation_document(req, graph, ds, *observation_doc(ds_id, time, value), opts)
                  for time, value in rows]
    else:
        values = observation_page(req.base, ds_id, rows, opts.select)
    count = await sql.count_observations(conn, sensor_id, metric, opts.filter) if opts.count else None
    link = None
    if more and rows:
        link = next_link(req.base, req.path, req.params, **{
            "$skiptoken": format_time(rows[-1][0]), "$skip": None, "$top": str(opts.top),
        })
    return collection(values, count, link)


async def answer(conn: asyncpg.Connection, req: StaRequest) -> dict[str, Any]:
    segments = parse_path(req.path)
    if not segments:
        return root(req.base)
    target = BY_PLURAL[segments[-1].type.plural]
    opts = parse_options(req.params, target, req.default_top, req.max_top)
    if [s.type.name for s in segments] == ["Datastream", "Observation"] and segments[0].id and not segments[1].id \
            and not opts.expand:
        # The hot path (paging through a series): one query says the Datastream exists and may be seen.
        sensor_id, metric = split_datastream_id(segments[0].id)
        if not await sql.series(conn, req.include_private, sensor_id, metric):
            raise NotFound(f"no Datastream {segments[0].id!r}")
        return await _observations(conn, req, None, segments[0].id, opts)
    graph = await _graph(conn, segments, req.include_private)
    at = await _walk(conn, graph, segments)
    if isinstance(at, _Single):
        return _document(req, graph, at.entity, opts)
    if isinstance(at, _Observation):
        return _observation_document(req, graph, at.datastream, at.id, at.doc, opts)
    if isinstance(at, _Observations):
        return await _observations(conn, req, graph, at.datastream.id, opts)
    got = page(at.entities, opts)
    link = None
    if got.more:
        link = next_link(req.base, req.path, req.params, **{"$skip": str(opts.skip + opts.top), "$top": str(opts.top)})
    values = [_document(req, graph, e, opts) for e in got.items]
    return collection(values, got.count if opts.count else None, link)
