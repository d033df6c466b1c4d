"""The canonical metrics of docs/interface.md: name, unit, kind and the physical range a value must lie in.

Ranges are deliberately wide: they reject what cannot be physical (a 3000 V mains
reading that is really a battery in mV, a 198 Hz grid frequency, a negative count),
never what is merely unusual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    ENERGY = "energy"
    AIR = "air"
    MOBILITY = "mobility"
    BIN = "bin"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    kind: Kind | None  # None: any kind may report it (temperature, humidity, battery)
    low: float
    high: float
    cumulative: bool = False  # a counter that only grows, but for resets

    def admits(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high


_E, _A, _M, _B = Kind.ENERGY, Kind.AIR, Kind.MOBILITY, Kind.BIN
_BIG = 1e12

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("power", "W", _E, -1e7, 1e7),
        Metric("apparent_power", "VA", _E, -1e7, 1e7),
        Metric("reactive_power", "var", _E, -1e7, 1e7),
        # 0..1 in principle; meters that export report a negative sign, which we keep (docs/interface.md).
        Metric("power_factor", "1", _E, -1.0, 1.0),
        Metric("voltage", "V", _E, 0.0, 1000.0),
        Metric("current", "A", _E, -10000.0, 10000.0),
        Metric("frequency", "Hz", _E, 40.0, 70.0),
        Metric("energy_import", "kWh", _E, 0.0, _BIG, cumulative=True),
        Metric("energy_export", "kWh", _E, 0.0, _BIG, cumulative=True),
        Metric("gas_volume", "m3", _E, 0.0, _BIG, cumulative=True),
        Metric("pm1", "ug/m3", _A, 0.0, 5000.0),
        Metric("pm25", "ug/m3", _A, 0.0, 5000.0),
        Metric("pm10", "ug/m3", _A, 0.0, 5000.0),
        Metric("no2", "ug/m3", _A, 0.0, 5000.0),
        Metric("o3", "ug/m3", _A, 0.0, 5000.0),
        Metric("co2", "ppm", _A, 0.0, 40000.0),
        Metric("temperature", "degC", None, -60.0, 100.0),
        Metric("humidity", "%", None, 0.0, 100.0),
        Metric("pressure", "hPa", _A, 300.0, 1200.0),
        Metric("bikes", "count", _M, 0.0, 1e6),
        Metric("cars", "count", _M, 0.0, 1e6),
        Metric("pedestrians", "count", _M, 0.0, 1e6),
        Metric("heavy_vehicles", "count", _M, 0.0, 1e6),
        Metric("speed_v85", "km/h", _M, 0.0, 300.0),
        # Telraam: the fraction of the interval the camera really counted (the counts are
        # extrapolated by it). Low uptime is data, not an error; health reads it.
        Metric("uptime", "1", _M, 0.0, 1.0),
        Metric("fill_level", "%", _B, 0.0, 100.0),
        Metric("distance", "mm", _B, 0.0, 20000.0),
        Metric("battery", "%", None, 0.0, 100.0),
        Metric("tilted", "1", _B, 0.0, 1.0),
    )
}


def unit_of(metric: str) -> str:
    return METRICS[metric].unit


def kind_of(metrics: list[str] | set[str] | tuple[str, ...]) -> Kind:
    """The kind a sensor is, judged by the metrics it reports (generic ones do not count)."""
    kinds = {METRICS[m].kind for m in metrics if m in METRICS and METRICS[m].kind is not None}
    if len(kinds) == 1:
        return Kind(kinds.pop())  # type: ignore[arg-type]
    return Kind.UNKNOWN
