"""Telraam API v1 traffic reports."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import orjson

from models.reading import Reading
from simulators.encoders.base import Message, Sample, utc


def _speed_histogram(v85: float, edges: Sequence[float]) -> list[float]:
    """Percent of cars per speed bin for a normal speed distribution with that 85th percentile."""
    sd = 6.5
    mean = v85 - 1.036 * sd

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf((x - mean) / (sd * math.sqrt(2.0))))

    cuts = [cdf(e) for e in edges]
    bins = [cuts[0]] + [b - a for a, b in itertools.pairwise(cuts)] + [1.0 - cuts[-1]]
    total = sum(bins)
    return [round(100.0 * b / total, 10) for b in bins]


def _json_number(x: float) -> float | int:
    return 0 if x == 0 else x


def telraam(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    segment = int(s.sensor.device)
    when = utc(s.t)
    date = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    observed = v["reported"] > 0.5
    uptime = v["uptime"] if observed else 0
    counts = {m: _json_number(round(v[m], 10) if observed else 0)
              for m in ("heavy_vehicles", "cars", "bikes", "pedestrians")}
    cars = counts["cars"]
    v85: float | None = float(v["speed_v85"]) if observed and cars > 0 else None
    item: dict[str, object] = {
        "instance_id": -1,
        "segment_id": segment,
        "date": date,
        "interval": "hourly",
        "uptime": uptime,
        "heavy": counts["heavy_vehicles"],
        "car": cars,
        "bike": counts["bikes"],
        "pedestrian": counts["pedestrians"],
    }
    for name, field in (("heavy_vehicles", "heavy"), ("cars", "car"), ("bikes", "bike"),
                        ("pedestrians", "pedestrian")):
        left = round(counts[name] * v[f"{name}_lft_share"], 10) if observed else 0
        item[f"{field}_lft"] = _json_number(left)
        item[f"{field}_rgt"] = _json_number(round(counts[name] - left, 10) if observed else 0)
    item["direction"] = 1
    item["timezone"] = "Europe/Brussels"
    if v85 is not None:
        item["car_speed_hist_0to70plus"] = [_json_number(x) for x in _speed_histogram(v85, range(10, 80, 10))]
        item["car_speed_hist_0to120plus"] = [_json_number(x) for x in _speed_histogram(v85, range(5, 125, 5))]
    else:
        item["car_speed_hist_0to70plus"] = [0] * 8
        item["car_speed_hist_0to120plus"] = [0] * 25
    item["v85"] = v85
    doc = {"status_code": 200, "message": "ok", "report": [item]}
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    readings: tuple[Reading, ...] = (Reading(sid, "uptime", float(uptime), when),)
    if observed:
        readings += tuple(
            Reading(sid, metric, float(counts[metric]), when)
            for metric in ("bikes", "cars", "pedestrians", "heavy_vehicles")
        ) + ((Reading(sid, "speed_v85", v85, when),) if v85 is not None else ())
    # The report for an hour exists once the hour is over; the bridge polls the API a few minutes later.
    return [Message(f"telraam/{segment}/traffic", body, readings, 3600.0 + 120.0 + 480.0 * s.u[0])]
