"""Realistic, deterministic signals for the simulated sensors. Pure (numpy only).

Every value is a function of (seed, sensor, absolute time) alone, never of the
window it is computed for: random numbers come from counter-based streams (PCG64
advanced to the sample's absolute index), slow processes are AR(1) filters over
those streams, and counters integrate from a fixed epoch. So a backfill and a
live run with the same seed agree where they overlap, cumulative counters carry
on across runs instead of jumping back (which the hourly rollups would count as
a meter reset worth the whole counter), and any window of a plan is reproducible.

Local time is Europe/Brussels (the EU daylight-saving rule, computed here in
numpy: zoneinfo per sample would dominate a 30-day backfill).

One module per part of the model, along the sections the single signals.py had: base (shared
constants and types), streams, clock, city_weather, curves, sampling, then one module per kind
(energy_loads, air_quality, traffic, bin_fill). simulate() picks the model by kind; the names
the simulators and tests use are re-exported here.
"""

from __future__ import annotations

from simulators.fleet import Sensor
from simulators.signals.air_quality import air as air
from simulators.signals.base import DAY as DAY
from simulators.signals.base import EPOCH_S as EPOCH_S
from simulators.signals.base import HOUR as HOUR
from simulators.signals.base import I64
from simulators.signals.base import SignalError as SignalError
from simulators.signals.bin_fill import BIN_BLIND_MM as BIN_BLIND_MM
from simulators.signals.bin_fill import bins as bins
from simulators.signals.bin_fill import collections as collections
from simulators.signals.city_weather import weather as weather
from simulators.signals.city_weather import weather_for as weather_for
from simulators.signals.clock import hour_index as hour_index
from simulators.signals.clock import local_midnight as local_midnight
from simulators.signals.clock import local_time as local_time
from simulators.signals.clock import solar_elevation as solar_elevation
from simulators.signals.clock import utc_offset as utc_offset
from simulators.signals.curves import bike_curve as bike_curve
from simulators.signals.energy_loads import energy as energy
from simulators.signals.sampling import Samples as Samples
from simulators.signals.sampling import sample_index as sample_index
from simulators.signals.sampling import sample_times as sample_times
from simulators.signals.streams import ar1 as ar1
from simulators.signals.streams import normal as normal
from simulators.signals.streams import uniform as uniform
from simulators.signals.traffic import mobility as mobility
from simulators.signals.traffic import poisson as poisson

# The unit tests look inside the meter registers and the counters' horizon.
from simulators.signals.city_weather import _horizon as _horizon  # isort: skip
from simulators.signals.energy_loads import _counters as _counters  # isort: skip
from simulators.signals.energy_loads import _register as _register  # isort: skip


def simulate(seed: int, sensor: Sensor, t: I64) -> Samples:
    """The sensor's values at times t, by kind."""
    match sensor.kind:
        case "energy":
            return energy(seed, sensor, t)
        case "air":
            return air(seed, sensor, t)
        case "mobility":
            return mobility(seed, sensor, t)
        case "bin":
            return bins(seed, sensor, t)
    raise SignalError(f"{sensor.id}: no signal model for kind {sensor.kind!r}")
