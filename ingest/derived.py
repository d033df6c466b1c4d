"""Readings computed from other readings of the same message, after decoding. Pure.

Only the bin fill level so far: a bin sensor measures the distance from the lid to
the waste; how full that is depends on the bin, whose depth the sensor registry
knows (ctx.bin_depth_mm), not the device.
"""

from __future__ import annotations

import math

from ingest.decoders.base import DecodeContext
from models.reading import Reading


def fill_level(distance_mm: float, depth_mm: float) -> float:
    """Percent full: 0 when the surface is at the bottom, 100 at the sensor, clamped in between."""
    return min(100.0, max(0.0, (depth_mm - distance_mm) / depth_mm * 100.0))


def derive(readings: list[Reading], ctx: DecodeContext) -> list[Reading]:
    """The readings followed by a `fill_level` for each `distance` of a sensor with a known depth."""
    depths = ctx.bin_depth_mm
    if not depths:
        return readings
    derived = [
        Reading(r.sensor_id, "fill_level", fill_level(r.value, depth), r.time)
        for r in readings
        if r.metric == "distance" and (depth := depths.get(r.sensor_id)) is not None
        and depth > 0 and math.isfinite(depth)
    ]
    return readings + derived if derived else readings
