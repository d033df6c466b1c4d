"""Sensor.Community area API answers → registry rows and the MQTT messages ingest reads (pure).

`GET /airrohr/v1/filter/area={lat},{lon},{km}` answers an array of records, one per sensor and
measurement of the last five minutes:

    {"id":3452716782,"timestamp":"2019-04-25 01:51:12",
     "location":{"id":1071,"latitude":"52.544","longitude":"13.374","indoor":0,…},
     "sensor":{"id":2129,"sensor_type":{"name":"SDS011",…}},"sensordatavalues":[…]}

Each record goes out unchanged on `airrohr/<sensor id>`, where ingest's Sensor.Community decoder
reads API records (sensor `sensor.community:<sensor id>`: the API names sensors, not the
stations' chip ids). Polls every five minutes overlap the API's five-minute memory; a record
already sent (its `id`) is skipped, and ingest's unique key absorbs what a restart re-sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ingest.pollers.telraam_rows import AnswerError, Outgoing
from models.districts import District, district_at

SOURCE = "sensor.community"


@dataclass(frozen=True, slots=True)
class Station:
    """One sensor of the area as the registry records it."""

    sensor_id: str
    model: str | None
    lat: float | None
    lon: float | None
    district: District | None
    location_id: object
    indoor: bool


def area_path(lat: float, lon: float, km: float) -> str:
    return f"/airrohr/v1/filter/area={lat:g},{lon:g},{km:g}"


def records(body: bytes) -> list[object]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise AnswerError(f"answer is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise AnswerError("answer is not an array of records")
    return doc


def _dict(x: object) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _float(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]  # the API writes coordinates as strings
    except (TypeError, ValueError):
        return None
    return v


def sensor_key(record: object) -> str | None:
    """The API's sensor id of a record, None when it has none (ingest will say why)."""
    sid = _dict(_dict(record).get("sensor")).get("id")
    return str(sid) if isinstance(sid, int | str) and not isinstance(sid, bool) and sid != "" else None


def is_indoor(record: object) -> bool:
    return str(_dict(_dict(record).get("location")).get("indoor", 0)) in ("1", "true", "True")


def record_id(record: object) -> object:
    return _dict(record).get("id")


def station(record: object) -> Station | None:
    key = sensor_key(record)
    if key is None:
        return None
    location = _dict(_dict(record).get("location"))
    lat, lon = _float(location.get("latitude")), _float(location.get("longitude"))
    if lat is not None and not -90 <= lat <= 90:
        lat = None
    if lon is not None and not -180 <= lon <= 180:
        lon = None
    model = _dict(_dict(_dict(record).get("sensor")).get("sensor_type")).get("name")
    return Station(
        sensor_id=f"{SOURCE}:{key}",
        model=model if isinstance(model, str) else None,
        lat=lat, lon=lon,
        district=district_at(lat, lon) if lat is not None and lon is not None else None,
        location_id=location.get("id"),
        indoor=is_indoor(record),
    )


def message(record: object) -> Outgoing:
    """The record, unchanged, on its sensor's topic (`airrohr/unknown` without an id: dead-lettered)."""
    return Outgoing(f"airrohr/{sensor_key(record) or 'unknown'}", orjson.dumps(record))


@dataclass(frozen=True, slots=True)
class Selection:
    outgoing: list[Outgoing]
    stations: list[Station]
    seen: frozenset[object]  # record ids sent in this poll, to skip in the next
    indoor: int  # records left out as indoor
    repeated: int  # records already sent by the previous poll


def select(recs: list[object], previously_seen: frozenset[object], include_indoor: bool) -> Selection:
    out: list[Outgoing] = []
    stations: dict[str, Station] = {}
    seen: set[object] = set()
    indoor = repeated = 0
    for rec in recs:
        if not include_indoor and is_indoor(rec):
            indoor += 1
            continue
        rid = record_id(rec)
        hashable = rid if isinstance(rid, int | str) else None
        if hashable is not None:
            seen.add(hashable)
            if hashable in previously_seen:
                repeated += 1
                continue
        st = station(rec)
        if st is not None:
            stations.setdefault(st.sensor_id, st)
        out.append(message(rec))
    return Selection(out, list(stations.values()), frozenset(seen), indoor, repeated)
