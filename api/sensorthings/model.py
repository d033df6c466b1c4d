"""The SensorThings data model as citysense serves it: entity types, their navigation links, what can
be filtered, ordered and selected, and the ids. Pure.

Ids are strings, stable as long as the registry and the metric catalogue are (docs/open-data.md):
a Thing, its Location and its FeatureOfInterest are the sensor id (`tasmota:pow1`); a Sensor is the
device model (`unknown` when the registry has none); an ObservedProperty is the metric name; a
Datastream is `<sensor id>:<metric>` (metric names hold no colon, so the last colon splits it); an
Observation is `<datastream id>@<phenomenonTime in UTC>`. In a URL a string id is quoted,
`Datastreams('tasmota:pow1:power')`, with a quote inside doubled (OData).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.sensorthings.errors import NotFound
from api.sensorthings.filtering import Path, Schema, Type

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
UNKNOWN_MODEL = "unknown"


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str
    plural: str
    links: Mapping[str, str]  # navigation property → entity type name
    many: frozenset[str]  # the navigation properties that lead to collections
    filterable: Schema
    properties: tuple[str, ...]  # JSON properties besides @iot.id/@iot.selfLink
    keyset: bool = False  # paged by phenomenonTime ($skiptoken) rather than $skip
    sortable: Schema = field(default_factory=dict)

    @property
    def selectable(self) -> tuple[str, ...]:
        return ("id", "selfLink", *self.properties, *self.links)


def _schema(*names: str, prefix: Path = ()) -> dict[Path, Type]:
    return {(*prefix, *n.split("/")): Type.TEXT for n in names}


_THING = _schema("id", "name", "description", "properties/kind", "properties/district", "properties/model")
_SENSOR = _schema("id", "name", "description", "encodingType")
_OBSERVED = _schema("id", "name", "definition", "description")
_DATASTREAM = {
    **_schema("id", "name", "description", "observationType", "unitOfMeasurement/name",
              "unitOfMeasurement/symbol"),
    **_schema(*("/".join(p) for p in _THING), prefix=("Thing",)),
    **_schema(*("/".join(p) for p in _SENSOR), prefix=("Sensor",)),
    **_schema(*("/".join(p) for p in _OBSERVED), prefix=("ObservedProperty",)),
}
_OBSERVATION: dict[Path, Type] = {("phenomenonTime",): Type.TIME, ("result",): Type.NUMBER}


def _type(name: str, plural: str, links: dict[str, str], many: set[str], filterable: dict[Path, Type],
          properties: tuple[str, ...], keyset: bool = False, sortable: dict[Path, Type] | None = None) -> EntityType:
    return EntityType(name, plural, links, frozenset(many), filterable, properties, keyset,
                      filterable if sortable is None else sortable)


ENTITIES: dict[str, EntityType] = {
    t.name: t
    for t in (
        _type("Thing", "Things", {"Locations": "Location", "Datastreams": "Datastream"},
              {"Locations", "Datastreams"}, _THING, ("name", "description", "properties")),
        _type("Location", "Locations", {"Things": "Thing"}, {"Things"},
              _schema("id", "name", "description", "encodingType", "properties/district"),
              ("name", "description", "encodingType", "location", "properties")),
        _type("Sensor", "Sensors", {"Datastreams": "Datastream"}, {"Datastreams"}, _SENSOR,
              ("name", "description", "encodingType", "metadata", "properties")),
        _type("ObservedProperty", "ObservedProperties", {"Datastreams": "Datastream"}, {"Datastreams"}, _OBSERVED,
              ("name", "definition", "description", "properties")),
        _type("Datastream", "Datastreams",
              {"Thing": "Thing", "Sensor": "Sensor", "ObservedProperty": "ObservedProperty",
               "Observations": "Observation"},
              {"Observations"}, _DATASTREAM,
              ("name", "description", "unitOfMeasurement", "observationType", "phenomenonTime", "properties")),
        _type("Observation", "Observations", {"Datastream": "Datastream", "FeatureOfInterest": "FeatureOfInterest"},
              set(), _OBSERVATION, ("phenomenonTime", "resultTime", "result"), keyset=True,
              sortable={("phenomenonTime",): Type.TIME}),  # keyset paging: time order only
        _type("FeatureOfInterest", "FeaturesOfInterest", {"Observations": "Observation"}, {"Observations"},
              _schema("id", "name", "description", "encodingType"),
              ("name", "description", "encodingType", "feature")),
    )
}
BY_PLURAL: dict[str, EntityType] = {t.plural: t for t in ENTITIES.values()}


def datastream_id(sensor_id: str, metric: str) -> str:
    return f"{sensor_id}:{metric}"


def split_datastream_id(ds_id: str) -> tuple[str, str]:
    sensor_id, sep, metric = ds_id.rpartition(":")
    if not sep or not sensor_id or not metric:
        raise NotFound(f"no Datastream {ds_id!r}: a Datastream id is '<sensor id>:<metric>'")
    return sensor_id, metric


def format_time(t: datetime) -> str:
    """UTC, with microseconds only when there are some (isoformat's default); the same text in ids,
    documents and tokens."""
    if t.tzinfo is not UTC:  # asyncpg's times are already UTC: no conversion on the hot path
        t = t.astimezone(UTC)
    return t.isoformat().replace("+00:00", "Z")


def observation_id(ds_id: str, time: datetime) -> str:
    return f"{ds_id}@{format_time(time)}"


def split_observation_id(obs_id: str) -> tuple[str, datetime]:
    ds_id, sep, text = obs_id.rpartition("@")
    try:
        if not sep:
            raise ValueError
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError
    except ValueError:
        raise NotFound(f"no Observation {obs_id!r}: an Observation id is '<datastream id>@<time>'") from None
    return ds_id, t.astimezone(UTC)


def quote_id(entity_id: str) -> str:
    return "'" + entity_id.replace("'", "''") + "'"
