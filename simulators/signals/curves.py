"""Daily curves: the value at each whole local hour, per load profile and traffic mode. Pure (numpy only)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from simulators.signals.base import F64
from simulators.signals.clock import _interp_daily

_A = np.array  # brevity in the tables below

_HOUSEHOLD = (
    _A([.10, .07, .06, .06, .06, .08, .22, .50, .45, .25, .18, .18, .22, .20, .17, .18, .25, .45, .85, 1.0,
        .90, .70, .45, .22]),
    _A([.12, .08, .07, .06, .06, .07, .10, .20, .38, .52, .55, .55, .60, .50, .42, .40, .45, .60, .90, 1.0,
        .85, .65, .45, .25]),
)
_OFFICE = (
    _A([.08, .08, .08, .08, .08, .10, .20, .55, .90, 1.0, 1.0, .95, .85, .95, 1.0, .95, .85, .60, .30, .15,
        .10, .08, .08, .08]),
    _A([.07] * 24),
)
_SCHOOL = (
    _A([.05, .05, .05, .05, .05, .06, .15, .55, 1.0, 1.0, .95, .80, .70, .90, .95, .70, .35, .15, .10, .08,
        .06, .05, .05, .05]),
    _A([.04] * 24),
)
_PROFILES: Mapping[str, tuple[F64, F64]] = {"household": _HOUSEHOLD, "office": _OFFICE, "school": _SCHOOL}

_TRAFFIC = (  # road traffic intensity, for air pollution: rush hours near 8:00 and 17:30
    _A([.10, .06, .05, .05, .08, .20, .55, .95, 1.0, .70, .55, .55, .60, .58, .60, .75, .90, 1.0, .85, .55,
        .40, .32, .25, .16]),
    _A([.16, .12, .08, .06, .06, .08, .14, .22, .32, .45, .55, .60, .62, .60, .58, .58, .58, .56, .50, .42,
        .36, .30, .26, .20]),
)
_BIKES = (  # Leuven bike counts: sharp commute peaks at 8:00 and 17:00, lunch bump, students late
    _A([.04, .02, .01, .01, .01, .03, .12, .55, 1.0, .55, .32, .33, .42, .40, .35, .45, .70, .92, .60, .40,
        .30, .24, .16, .08]),
    _A([.06, .04, .02, .01, .01, .01, .03, .06, .12, .20, .30, .36, .40, .42, .42, .40, .38, .34, .28, .22,
        .18, .14, .10, .07]),
)
_CARS = (
    _A([.05, .03, .02, .02, .04, .12, .45, .90, 1.0, .72, .58, .60, .64, .62, .64, .75, .92, 1.0, .78, .52,
        .38, .30, .20, .10]),
    _A([.08, .05, .03, .02, .02, .04, .08, .16, .28, .42, .52, .58, .60, .58, .56, .56, .56, .54, .48, .40,
        .32, .26, .20, .12]),
)
_PEDESTRIANS = (
    _A([.03, .02, .01, .01, .01, .02, .06, .25, .45, .40, .45, .60, .85, .80, .65, .65, .75, .80, .60, .45,
        .35, .25, .14, .06]),
    _A([.05, .03, .02, .01, .01, .01, .02, .06, .15, .35, .60, .80, 1.0, .95, .90, .85, .80, .70, .55, .40,
        .30, .22, .14, .08]),
)
_HEAVY = (
    _A([.05, .04, .04, .05, .10, .30, .70, .95, 1.0, .95, .90, .85, .80, .85, .85, .80, .70, .55, .35, .20,
        .12, .08, .06, .05]),
    _A([.05, .04, .04, .04, .05, .08, .12, .18, .24, .28, .30, .30, .28, .26, .24, .22, .20, .16, .12, .10,
        .08, .06, .05, .05]),
)
_OCCUPANCY = _SCHOOL  # indoor CO2 follows people in the room


def bike_curve(hour: float, weekend: bool) -> float:
    """The relative bike intensity at a local hour (for tests and docs)."""
    return float(_interp_daily(_BIKES[1 if weekend else 0], np.array([hour]))[0])
