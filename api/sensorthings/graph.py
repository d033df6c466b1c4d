"""The SensorThings entities other than Observations, built in memory from the registry and the list
of series: a few documents per sensor, so filtering, ordering and paging them in Python is cheaper
than SQL per entity type would be. Pure.

Each Entity holds its JSON document (without links, which depend on the request's base URL), the
values `$filter`/`$orderby` see (paths such as ('Thing', 'name') included), and the ids its
navigation properties lead to. Observations are not here: they are read page by page from storage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.sensorthings.filtering import Path, Value
from api.sensorthings.model import (
    ENTITIES,
    OM_MEASUREMENT,
    UNKNOWN_MODEL,
    datastream_id,
    format_time,
)
from models.metrics import METRICS


@dataclass(frozen=True, slots=True)
class SensorRow:
    id: str
    kind: str
    model: str | None
    district: str | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class SeriesRow:
    sensor_id: str
    metric: str
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    id: str
    doc: Mapping[str, Any]
    props: Mapping[Path, Value]
    related: Mapping[str, tuple[str, ...]]  # navigation property → ids ('Observations' is not listed)


def _props(doc: Mapping[str, Any], entity_id: str, prefix: Path = ()) -> dict[Path, Value]:
    """The filterable values of a document: its text properties, one level of objects flattened."""
    out: dict[Path, Value] = {(*prefix, "id"): entity_id}
    for key, value in doc.items():
        if isinstance(value, str):
            out[(*prefix, key)] = value
        elif isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, str) or v is None:
                    out[(*prefix, key, sub)] = v
    return out


def _point(lat: float | None, lon: float | None) -> dict[str, Any] | None:
    if lat is None or lon is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


def _thing(s: SensorRow, ds_ids: list[str]) -> Entity:
    where = f" in {s.district}" if s.district else ""
    doc = {
        "name": s.id,
        "description": f"{s.kind} sensor {s.id}{where}",
        "properties": {"kind": s.kind, "district": s.district, "model": s.model},
    }
    located = (s.id,) if _point(s.lat, s.lon) else ()
    return Entity("Thing", s.id, doc, _props(doc, s.id), {"Locations": located, "Datastreams": tuple(ds_ids)})


def _location(s: SensorRow) -> Entity | None:
    point = _point(s.lat, s.lon)
    if point is None:
        return None
    doc = {
        "name": f"position of {s.id}",
        "description": f"registered position of sensor {s.id}" + (f" in {s.district}" if s.district else ""),
        "encodingType": "application/geo+json",
        "location": point,
        "properties": {"district": s.district},
    }
    return Entity("Location", s.id, doc, _props(doc, s.id), {"Things": (s.id,)})


def _feature(s: SensorRow) -> Entity:
    doc = {
        "name": f"surroundings of {s.id}",
        "description": "what the sensor observes: its surroundings at its registered position"
                       + ("" if _point(s.lat, s.lon) else " (not registered)"),
        "encodingType": "application/geo+json",
        "feature": _point(s.lat, s.lon),
    }
    return Entity("FeatureOfInterest", s.id, doc, _props(doc, s.id), {})


def _sensor(model: str, ds_ids: list[str]) -> Entity:
    doc = {
        "name": model,
        "description": f"device model {model}" if model != UNKNOWN_MODEL else "device model not registered",
        "encodingType": "text/plain",
        "metadata": model,
        "properties": {},
    }
    return Entity("Sensor", model, doc, _props(doc, model), {"Datastreams": tuple(ds_ids)})


def _observed_property(metric: str, ds_ids: list[str]) -> Entity:
    m = METRICS[metric]
    doc = {
        "name": metric,
        # citysense's canonical metric names (docs/interface.md) have no public vocabulary URI.
        "definition": f"urn:citysense:metric:{metric}",
        "description": f"{metric} in {m.unit}" + (f" ({m.kind.value} sensors)" if m.kind else ""),
        "properties": {"unit": m.unit, "cumulative": m.cumulative},
    }
    return Entity("ObservedProperty", metric, doc, _props(doc, metric), {"Datastreams": tuple(ds_ids)})


def _datastream(r: SeriesRow, thing: Entity, sensor: Entity, observed: Entity) -> Entity:
    unit = METRICS[r.metric].unit
    ds_id = datastream_id(r.sensor_id, r.metric)
    doc: dict[str, Any] = {
        "name": f"{r.sensor_id} {r.metric}",
        "description": f"{r.metric} of sensor {r.sensor_id}, in {unit}",
        "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": f"urn:citysense:unit:{unit}"},
        "observationType": OM_MEASUREMENT,
        "properties": {"sensor_id": r.sensor_id, "metric": r.metric},
    }
    if r.first is not None and r.last is not None:
        doc["phenomenonTime"] = f"{format_time(r.first)}/{format_time(r.last)}"
    props = _props(doc, ds_id)
    for prefix, other in (("Thing", thing), ("Sensor", sensor), ("ObservedProperty", observed)):
        props.update({(prefix, *p): v for p, v in other.props.items()})
    related = {"Thing": (thing.id,), "Sensor": (sensor.id,), "ObservedProperty": (observed.id,)}
    return Entity("Datastream", ds_id, doc, props, related)


@dataclass(frozen=True, slots=True)
class Graph:
    by_type: Mapping[str, Mapping[str, Entity]]  # entity type → id → entity, in id order

    def get(self, type_name: str, entity_id: str) -> Entity | None:
        return self.by_type[type_name].get(entity_id)

    def all(self, type_name: str) -> list[Entity]:
        return list(self.by_type[type_name].values())


def build_graph(sensors: Iterable[SensorRow], series: Iterable[SeriesRow]) -> Graph:
    """The entities of these (visible) sensors and their series; series of unknown metrics or of
    sensors not given are left out."""
    sensor_rows = sorted(sensors, key=lambda s: s.id)
    known = {s.id: s for s in sensor_rows}
    rows = sorted((r for r in series if r.sensor_id in known and r.metric in METRICS),
                  key=lambda r: (r.sensor_id, r.metric))
    by_sensor: dict[str, list[str]] = defaultdict(list)
    by_model: dict[str, list[str]] = defaultdict(list)
    by_metric: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        ds = datastream_id(r.sensor_id, r.metric)
        by_sensor[r.sensor_id].append(ds)
        by_model[known[r.sensor_id].model or UNKNOWN_MODEL].append(ds)
        by_metric[r.metric].append(ds)
    things = {s.id: _thing(s, by_sensor[s.id]) for s in sensor_rows}
    locations = {s.id: loc for s in sensor_rows if (loc := _location(s)) is not None}
    models = sorted({s.model or UNKNOWN_MODEL for s in sensor_rows})
    sensor_entities = {m: _sensor(m, by_model[m]) for m in models}
    observed = {m: _observed_property(m, by_metric[m]) for m in sorted(METRICS)}
    datastreams = {
        datastream_id(r.sensor_id, r.metric): _datastream(
            r, things[r.sensor_id], sensor_entities[known[r.sensor_id].model or UNKNOWN_MODEL], observed[r.metric]
        )
        for r in rows
    }
    features = {s.id: _feature(s) for s in sensor_rows}
    by_type: dict[str, Mapping[str, Entity]] = {
        "Thing": things, "Location": locations, "Sensor": sensor_entities, "ObservedProperty": observed,
        "Datastream": datastreams, "FeatureOfInterest": features, "Observation": {},
    }
    assert set(by_type) == set(ENTITIES)
    return Graph(by_type)
