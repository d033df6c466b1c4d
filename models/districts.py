"""Leuven's districts (deelgemeenten): the one list every part of citysense uses.

The API validates `district` against it, the simulators place sensors in it, the bench
spreads its fleet over it, and the dashboard reads it as the generated module
`/dashboard/districts.js` (api.routes.dashboard), so no second copy is written out.
"""

from __future__ import annotations

from typing import Literal, get_args

District = Literal["Leuven", "Heverlee", "Kessel-Lo", "Wilsele", "Wijgmaal"]
DISTRICTS: tuple[District, ...] = get_args(District)
