"""The one bench fleet: the default simulated fleet cloned to any number of sensors.

Both benchmarks use it: the ingest stages (their pre-generated message set and the
registry of each stage's database) and the API latency benchmark (its backfilled history).
"""

from __future__ import annotations

from collections.abc import Mapping

from models.districts import DISTRICTS
from simulators.fleet import Fleet, Sensor, load_fleet, rename

# Natural counter resets off. They once raised IndexError here (a first reset after the window,
# fixed in simulators.signals); turning them on now would change every cached message set.
_NO_RESETS = {"resets_per_year": 0.0}


def bench_fleet(sensors: int, metadata: Mapping[str, object] | None = None) -> Fleet:
    """The default fleet cloned to `sensors` sensors, device ids valid for each format (simulators.fleet),
    districts taken in turn; `metadata` is added to every sensor's."""
    base = load_fleet(None).sensors
    extra = {**_NO_RESETS, **(metadata or {})}
    out: list[Sensor] = []
    for i in range(sensors):
        s = base[i % len(base)]
        if s.format == "telraam":
            device = str(8_000_000 + i)
        elif s.format == "chirpstack":
            device = f"{0xBE0C0000_00000000 + i:016x}"
        elif s.format == "sensor-community":
            device = f"esp8266-{80_000_000 + i}"
        elif s.format == "dsmr":
            device = f"1BEN{i:010d}"
        else:
            device = f"{s.device[:24]}-k{i:04d}"
        clone = rename(s, device)
        out.append(Sensor(
            id=clone.id, kind=clone.kind, format=clone.format, model=clone.model,
            district=DISTRICTS[i % len(DISTRICTS)], lat=s.lat, lon=s.lon, private=s.private,
            interval_s=s.interval_s, metadata={**s.metadata, **extra},
        ))
    return Fleet(tuple(out), name=f"bench-{sensors}")
