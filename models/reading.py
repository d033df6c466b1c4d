"""One reading: the unit every decoder produces and the database stores."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Reading(NamedTuple):
    """A value of a canonical metric (see models.metrics) measured by one sensor.

    A NamedTuple rather than a dataclass: ingest builds hundreds of thousands a
    second, and tuples are the cheapest immutable object Python has. Validation
    lives in ingest.validation, applied once per reading on the way in.
    """

    sensor_id: str
    metric: str
    value: float
    time: datetime | None  # tz-aware UTC; None when the payload carries no time (receive time applies)
