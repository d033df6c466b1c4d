"""The fleet: which simulated sensors exist, where they stand and which vendor format each speaks.

A fleet file is TOML (see default_fleet.toml):

    [[sensor]]
    id = "tasmota:pow-kessello-01"     # exactly the id ingest derives from the vendor topic/payload
    kind = "energy"                    # energy | air | mobility | bin
    format = "tasmota"                 # one of FORMATS
    model = "Sonoff POW R2"
    district = "Kessel-Lo"             # one of Leuven's deelgemeenten
    lat = 50.8890
    lon = 4.7250
    private = true                     # household data: never served raw as open data
    interval = "10m"                   # seconds or a duration: 90, "90s", "10m", "1h"
    metadata = { profile = "household", base_w = 180 }

Validation is strict and its messages exact: a typo in a fleet file should say
which sensor and which field, not surface later as a decoder rejection.
Pure: parsing and validation only (reading the file is the one side effect).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from models.districts import DISTRICTS as DISTRICTS  # re-exported: a fleet file's districts are these

KINDS: tuple[str, ...] = ("energy", "air", "mobility", "bin")

# Leuven and its deelgemeenten with a margin; a sensor outside is a typo (a swapped lat/lon).
LAT_RANGE = (50.80, 50.97)
LON_RANGE = (4.60, 4.82)

DEFAULT_FLEET = Path(__file__).with_name("default_fleet.toml")


@dataclass(frozen=True, slots=True)
class FormatRule:
    source: str  # the sensor id prefix ingest gives this format (docs/interface.md: <source>:<device id>)
    kinds: frozenset[str]
    models: Mapping[str, str] | None = None  # model → the kind it measures, when the model picks the codec
    fixed_interval_s: int | None = None  # formats whose devices report on a fixed period
    timed: bool = True  # whether the payload carries a time (else ingest stamps the receive time)


_LORA_MODELS = MappingProxyType({"AM319": "air", "EM310-UDL": "bin"})

FORMATS: Mapping[str, FormatRule] = MappingProxyType({
    "tasmota": FormatRule("tasmota", frozenset({"energy", "air"})),
    "shelly-gen2-status": FormatRule("shelly", frozenset({"energy"}), timed=False),
    "shelly-gen2-rpc": FormatRule("shelly", frozenset({"energy"})),
    "shelly-gen1": FormatRule("shelly", frozenset({"energy"}), timed=False),
    "dsmr": FormatRule("dsmr", frozenset({"energy"})),
    "zigbee2mqtt": FormatRule("zigbee2mqtt", frozenset({"energy"})),
    "sensor-community": FormatRule("sensor.community", frozenset({"air"}), timed=False),
    "ttn": FormatRule("ttn", frozenset({"air", "bin"}), models=_LORA_MODELS),
    "chirpstack": FormatRule("chirpstack", frozenset({"air", "bin"}), models=_LORA_MODELS),
    "telraam": FormatRule("telraam", frozenset({"mobility"}), fixed_interval_s=3600),
    "senml": FormatRule("senml", frozenset(KINDS)),
})

# The device part of an id, per format: what the vendor lets a device be called.
_DEVICE_PATTERNS: Mapping[str, re.Pattern[str]] = MappingProxyType({
    "tasmota": re.compile(r"[^/+#\s]+"),
    "shelly-gen2-status": re.compile(r"[^/+#\s:]+"),
    "shelly-gen2-rpc": re.compile(r"[^/+#\s:]+"),
    "shelly-gen1": re.compile(r"[^/+#\s:]+"),
    "dsmr": re.compile(r"[!-~]{1,48}"),
    "zigbee2mqtt": re.compile(r"[^/+#\s]+"),
    "sensor-community": re.compile(r"esp(8266|32)-\d+"),
    "ttn": re.compile(r"[a-z0-9](?:[-]?[a-z0-9]){2,35}"),
    "chirpstack": re.compile(r"[0-9a-f]{16}"),
    "telraam": re.compile(r"\d+"),
    "senml": re.compile(r"[^\s+#]+"),
})
_DEVICE_HINTS: Mapping[str, str] = MappingProxyType({
    "sensor-community": "esp8266-<chip id> or esp32-<chip id>",
    "ttn": "a TTN device id: lowercase letters, digits and dashes, 3..36 characters",
    "chirpstack": "the DevEUI as 16 lowercase hex digits",
    "telraam": "the numeric segment id",
    "dsmr": "the printable equipment id of 0-0:96.1.1",
})

_MIN_INTERVAL_S = 10
_INTERVAL = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>min|s|m|h|d)?")
_INTERVAL_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_FIELDS = ("id", "kind", "format", "model", "district", "lat", "lon", "private", "interval", "metadata")
_REQUIRED = ("id", "kind", "format", "district", "lat", "lon")


class FleetError(ValueError):
    """A fleet file that cannot be used; the message names the sensor and the field."""


@dataclass(frozen=True, slots=True)
class Sensor:
    id: str
    kind: str
    format: str
    model: str
    district: str
    lat: float
    lon: float
    private: bool
    interval_s: int
    # Not hashed (a mapping cannot be), still compared: equal sensors hash alike, caches key on sensors.
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def device(self) -> str:
        """The id without its source: the name the device gives itself (topic, EUI, segment…)."""
        return self.id.split(":", 1)[1]

    @property
    def timed(self) -> bool:
        return FORMATS[self.format].timed

    def meta(self, key: str, default: Any) -> Any:
        return self.metadata.get(key, default)


@dataclass(frozen=True, slots=True)
class Fleet:
    sensors: tuple[Sensor, ...]
    name: str = "fleet"

    def __len__(self) -> int:
        return len(self.sensors)

    def by_id(self, sensor_id: str) -> Sensor:
        for s in self.sensors:
            if s.id == sensor_id:
                return s
        raise KeyError(sensor_id)

    def only(self, ids: set[str]) -> Fleet:
        return Fleet(tuple(s for s in self.sensors if s.id in ids), self.name)


def to_records(fleet: Fleet) -> list[dict[str, Any]]:
    """Plain data (picklable, unlike the read-only mappings) to hand a fleet to another process."""
    return [
        {"id": s.id, "kind": s.kind, "format": s.format, "model": s.model, "district": s.district, "lat": s.lat,
         "lon": s.lon, "private": s.private, "interval_s": s.interval_s, "metadata": dict(s.metadata)}
        for s in fleet.sensors
    ]


def from_records(records: list[dict[str, Any]], name: str = "fleet") -> Fleet:
    return Fleet(tuple(Sensor(**{**r, "metadata": MappingProxyType(dict(r["metadata"]))}) for r in records), name)


def rename(sensor: Sensor, device: str) -> Sensor:
    source = sensor.id.split(":", 1)[0]
    return Sensor(
        id=f"{source}:{device}", kind=sensor.kind, format=sensor.format, model=sensor.model,
        district=sensor.district, lat=sensor.lat, lon=sensor.lon, private=sensor.private,
        interval_s=sensor.interval_s, metadata=sensor.metadata,
    )


def parse_interval(value: object) -> int:
    """Seconds from an integer or a duration string ("90s", "10m", "1h"). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = float(value)
    elif isinstance(value, float) and value.is_integer():
        seconds = value
    elif isinstance(value, str):
        m = _INTERVAL.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"{value!r} is not a duration (use e.g. 300, \"90s\", \"10m\", \"1h\")")
        seconds = float(m["n"]) * _INTERVAL_UNITS[m["unit"] or "s"]
    else:
        raise ValueError(f"{value!r} is not a duration")
    if not seconds.is_integer():
        raise ValueError(f"{value!r} is not a whole number of seconds")
    return int(seconds)


def _where(index: int, raw: Mapping[str, Any]) -> str:
    sid = raw.get("id")
    return f"sensor {index}" + (f" ({sid})" if isinstance(sid, str) and sid else "")


def _sensor(index: int, raw: object, defaults: Mapping[str, Any]) -> Sensor:
    if not isinstance(raw, dict):
        raise FleetError(f"sensor {index}: must be a table ([[sensor]])")
    where = _where(index, raw)
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise FleetError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}")
    merged = {**defaults, **raw}
    for key in _REQUIRED:
        if key not in merged:
            raise FleetError(f"{where}: missing field '{key}'")
    sid, kind, fmt, district = merged["id"], merged["kind"], merged["format"], merged["district"]
    for key, value in (("id", sid), ("kind", kind), ("format", fmt), ("district", district)):
        if not isinstance(value, str) or not value:
            raise FleetError(f"{where}: '{key}' must be a non-empty string")
    if kind not in KINDS:
        raise FleetError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise FleetError(f"{where}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rule = FORMATS[fmt]
    if kind not in rule.kinds:
        raise FleetError(f"{where}: format {fmt!r} does not carry kind {kind!r} "
                         f"(it carries {', '.join(sorted(rule.kinds))})")
    if district not in DISTRICTS:
        raise FleetError(f"{where}: unknown district {district!r}; expected one of {', '.join(DISTRICTS)}")
    source, colon, device = sid.partition(":")
    if not colon or source != rule.source:
        raise FleetError(f"{where}: id must be '{rule.source}:<device>' for format {fmt!r}")
    if not _DEVICE_PATTERNS[fmt].fullmatch(device):
        hint = _DEVICE_HINTS.get(fmt, "a name without '/', '+', '#' or spaces")
        raise FleetError(f"{where}: device {device!r} is not a valid {fmt} device name ({hint})")
    model = merged.get("model", "")
    if not isinstance(model, str):
        raise FleetError(f"{where}: 'model' must be a string")
    if rule.models is not None:
        if model not in rule.models:
            raise FleetError(f"{where}: unknown model {model!r} for format {fmt!r}; "
                             f"expected one of {', '.join(rule.models)}")
        if rule.models[model] != kind:
            raise FleetError(f"{where}: model {model!r} measures kind {rule.models[model]!r}, not {kind!r}")
    lat, lon = merged["lat"], merged["lon"]
    for key, value, (low, high) in (("lat", lat, LAT_RANGE), ("lon", lon, LON_RANGE)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FleetError(f"{where}: '{key}' must be a number")
        if not low <= value <= high:
            raise FleetError(f"{where}: {key} {value} is outside Leuven ({low}..{high})")
    private = merged.get("private", False)
    if not isinstance(private, bool):
        raise FleetError(f"{where}: 'private' must be true or false")
    try:
        interval = parse_interval(merged.get("interval", "10m"))
    except ValueError as exc:
        raise FleetError(f"{where}: interval {exc}") from None
    if interval < _MIN_INTERVAL_S:
        raise FleetError(f"{where}: interval must be at least {_MIN_INTERVAL_S} s, got {interval} s")
    if rule.fixed_interval_s is not None and interval != rule.fixed_interval_s:
        raise FleetError(f"{where}: format {fmt!r} reports every {rule.fixed_interval_s} s, "
                         f"not every {interval} s")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise FleetError(f"{where}: 'metadata' must be a table")
    metadata = dict(metadata)
    if kind == "bin":
        depth = metadata.get("depth_mm")
        if isinstance(depth, bool) or not isinstance(depth, int | float) or not 200 <= depth <= 4500:
            raise FleetError(f"{where}: bins need metadata.depth_mm, the sensor-to-bottom depth in mm "
                             f"(200..4500), got {depth!r}")
    return Sensor(
        id=sid, kind=kind, format=fmt, model=model, district=district, lat=float(lat), lon=float(lon),
        private=private, interval_s=interval, metadata=MappingProxyType(metadata),
    )


def parse_fleet(doc: Mapping[str, Any], name: str = "fleet") -> Fleet:
    """A fleet from a parsed TOML document; raises FleetError with an exact message."""
    unknown = sorted(set(doc) - {"sensor", "defaults"})
    if unknown:
        raise FleetError(f"{name}: unknown top-level key(s) {', '.join(unknown)}; expected [defaults] and "
                         "[[sensor]]")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise FleetError(f"{name}: [defaults] must be a table")
    bad = sorted(set(defaults) - {"interval", "private"})
    if bad:
        raise FleetError(f"{name}: [defaults] may set interval and private, not {', '.join(bad)}")
    raw_sensors = doc.get("sensor", [])
    if not isinstance(raw_sensors, list) or not raw_sensors:
        raise FleetError(f"{name}: no sensors (add [[sensor]] tables)")
    sensors: list[Sensor] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(raw_sensors, start=1):
        sensor = _sensor(index, raw, defaults)
        if sensor.id in first:
            raise FleetError(f"sensor {index}: duplicate id {sensor.id!r} (first at sensor {first[sensor.id]})")
        first[sensor.id] = index
        sensors.append(sensor)
    return Fleet(tuple(sensors), name)


def parse_fleet_text(text: str, name: str = "fleet") -> Fleet:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FleetError(f"{name}: not valid TOML: {exc}") from None
    return parse_fleet(doc, name)


def load_fleet(path: str | Path | None = None) -> Fleet:
    """The fleet in `path`, or the packaged default fleet."""
    p = Path(path) if path is not None else DEFAULT_FLEET
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError(f"cannot read fleet file {str(p)!r}: {exc.strerror or exc}") from None
    return parse_fleet_text(text, p.name)
