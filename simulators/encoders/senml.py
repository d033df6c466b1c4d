"""SenML JSON (RFC 8428)."""

from __future__ import annotations

from collections.abc import Mapping

from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_printed, utc, with_fill

_SENML: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "air": (("pm25", "ug/m3", 1), ("pm10", "ug/m3", 1), ("no2", "ug/m3", 1), ("o3", "ug/m3", 1),
            ("temperature", "Cel", 2), ("humidity", "%RH", 1), ("pressure", "hPa", 1)),
    "energy": (("power", "W", 1), ("voltage", "V", 1), ("current", "A", 3), ("energy_import", "kWh", 3),
               ("energy_export", "kWh", 3)),
    "mobility": (("bikes", "count", 0), ("cars", "count", 0), ("pedestrians", "count", 0),
                 ("heavy_vehicles", "count", 0), ("speed_v85", "km/h", 1)),
    "bin": (("distance", "mm", 0), ("battery", "%EL", 0), ("tilted", "1", 0)),
}


def senml(s: Sample) -> list[Message]:
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    when = utc(s.t)
    records: list[str] = []
    out: list[Reading] = []
    for i, (metric, unit, decimals) in enumerate(_SENML[s.sensor.kind]):
        if metric not in v:
            continue
        text, parsed = as_printed(v[metric], decimals)
        head = f'"bn":"{dev}:","bt":{s.t},' if i == 0 else ""
        records.append(f'{{{head}"n":"{metric}","u":"{unit}","v":{text}}}')
        out.append(Reading(sid, metric, parsed, when))
    body = "[" + ",\n ".join(records) + "]"
    readings = with_fill(s, tuple(out))
    return [Message(f"citysense/senml/{dev}", body.encode(), readings, 0.1 + 0.2 * s.u[0])]
