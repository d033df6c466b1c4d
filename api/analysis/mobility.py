"""Traffic counts: modal split and peak hours."""

from __future__ import annotations

from collections.abc import Mapping

MODES = ("bikes", "cars", "pedestrians", "heavy_vehicles")
# A Telraam hour counted less than this share of the time (its `uptime`) is extrapolated from
# little: its counts are flagged in the report (and the sensor in fleet health: `low_uptime`).
LOW_UPTIME = 0.5


def modal_split(totals: Mapping[str, float]) -> dict[str, float | None]:
    """Each mode's share of all counted movements, in %; None for every mode when nothing was counted."""
    total = sum(totals.get(m, 0.0) for m in MODES)
    if total <= 0:
        return dict.fromkeys(MODES)
    return {m: totals.get(m, 0.0) / total * 100.0 for m in MODES}


def peak_hour(by_hour: Mapping[int, float]) -> tuple[int, float] | None:
    """The hour of day (0-23) with the highest count, the earliest one on a tie; None when all are zero."""
    best: tuple[int, float] | None = None
    for hour in sorted(by_hour):
        count = by_hour[hour]
        if count > 0 and (best is None or count > best[1]):
            best = (hour, count)
    return best
