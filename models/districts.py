"""Leuven's districts (deelgemeenten): the one list every part of citysense uses.

The API validates `district` against it, the simulators place sensors in it, the bench
spreads its fleet over it, and the dashboard reads it (with the label points of its map) as the
generated module `/dashboard/districts.js` (api.routes.dashboard), so no second copy is written
out. (The CHECK constraint of migration 0001 names them too: a migration is history, not edited.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

District = Literal["Leuven", "Heverlee", "Kessel-Lo", "Wilsele", "Wijgmaal"]
DISTRICTS: tuple[District, ...] = get_args(District)

# A point (lat, lon) in each district near its centre, nudged off the busiest spots: where a map
# writes the district's name (the dashboard's map does).
LABEL_POINTS: Mapping[District, tuple[float, float]] = MappingProxyType({
    "Leuven": (50.8675, 4.7120),
    "Heverlee": (50.8540, 4.6820),
    "Kessel-Lo": (50.8930, 4.7490),
    "Wilsele": (50.9110, 4.6740),
    "Wijgmaal": (50.9300, 4.7240),
})

# Where each district's centre lies (its church square or main street; approximate). Without
# boundary polygons in the project, a position belongs to the district whose centre is nearest:
# good for placing a station on a dashboard, wrong near a border. Replace with the official
# deelgemeente polygons (Stad Leuven open data) where the exact border matters.
CENTRES: dict[District, tuple[float, float]] = {
    "Leuven": (50.8793, 4.7020),
    "Heverlee": (50.8640, 4.6890),
    "Kessel-Lo": (50.8880, 4.7290),
    "Wilsele": (50.8995, 4.6950),
    "Wijgmaal": (50.9270, 4.6990),
}
# Farther than this from every centre is outside the city (Herent, Bertem, Holsbeek…): no district.
MAX_KM_FROM_CENTRE = 3.5
_KM_PER_DEG_LAT = 111.2


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # An equirectangular distance: exact enough over a few kilometres.
    x = (lon2 - lon1) * _KM_PER_DEG_LAT * math.cos(math.radians((lat1 + lat2) / 2))
    y = (lat2 - lat1) * _KM_PER_DEG_LAT
    return math.hypot(x, y)


def district_at(lat: float, lon: float) -> District | None:
    """The district a position lies in (nearest centre), None outside the city."""
    name, centre = min(CENTRES.items(), key=lambda kv: _km(lat, lon, *kv[1]))
    return name if _km(lat, lon, *centre) <= MAX_KM_FROM_CENTRE else None
