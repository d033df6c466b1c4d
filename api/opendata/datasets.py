"""The open datasets: one per theme, each a set of metrics with the aggregate that suits them. Pure.

The bulk files, the catalogue and docs/open-data.md all read this list; a metric is published
only through the open aggregates (k-suppressed per district, per sensor only for non-private sensors).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.aggregation import Agg
from models.metrics import METRICS, Kind


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str  # also the folder and file-name prefix of its bulk files
    title: str
    description: str
    kind: Kind  # the sensors it comes from
    metrics: tuple[tuple[str, Agg], ...]
    theme: str  # EU data theme (http://publications.europa.eu/resource/authority/data-theme/…)
    keywords: tuple[str, ...]


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "air-quality", "Air quality in Leuven",
        "Hourly and daily averages of particulate matter, NO2, O3, CO2 and weather from Leuven's air-quality "
        "sensors, per district and per (non-private) sensor.",
        Kind.AIR,
        tuple((m, Agg.AVG) for m in ("pm1", "pm25", "pm10", "no2", "o3", "co2", "temperature", "humidity",
                                     "pressure")),
        "ENVI", ("air quality", "particulate matter", "NO2", "Leuven"),
    ),
    Dataset(
        "mobility-counts", "Mobility counts in Leuven",
        "Hourly and daily counts of bikes, cars, pedestrians and heavy vehicles and the v85 speed from "
        "Leuven's traffic counters, per district and per (non-private) counter.",
        Kind.MOBILITY,
        (("bikes", Agg.SUM), ("cars", Agg.SUM), ("pedestrians", Agg.SUM), ("heavy_vehicles", Agg.SUM),
         ("speed_v85", Agg.AVG)),
        "TRAN", ("traffic counts", "cycling", "mobility", "Leuven"),
    ),
    Dataset(
        "energy", "Energy use per district in Leuven",
        "Hourly and daily electricity imported and exported and gas used, summed over the meters of each "
        "district (a district's row is published only when enough meters fed it), and per non-private meter.",
        Kind.ENERGY,
        (("energy_import", Agg.INCREASE), ("energy_export", Agg.INCREASE), ("gas_volume", Agg.INCREASE)),
        "ENER", ("energy", "electricity", "gas", "Leuven"),
    ),
    Dataset(
        "bin-fill", "Litter-bin fill levels in Leuven",
        "Hourly and daily average fill levels of Leuven's connected litter bins, per district and per bin.",
        Kind.BIN,
        (("fill_level", Agg.AVG),),
        "ENVI", ("litter bins", "cleanliness", "Leuven"),
    ),
)
BY_ID = {d.id: d for d in DATASETS}
assert all(m in METRICS for d in DATASETS for m, _ in d.metrics)
