"""Leuven's districts (deelgemeenten): the one list every part of citysense uses.

The API validates `district` against it, the simulators place sensors in it, the bench
spreads its fleet over it, and the dashboard reads it (with the label points of its map) as the
generated module `/dashboard/districts.js` (api.routes.dashboard), so no second copy is written
out. (The CHECK constraint of migration 0001 names them too: a migration is history, not edited.)
"""

from __future__ import annotations

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
