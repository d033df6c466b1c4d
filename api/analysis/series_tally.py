"""What fleet health keeps in memory of one series, kept up to date reading by reading. Pure.

The API learns a series' facts from the database (the hourly rollups of the last hours, every
CITYSENSE_API_HEALTH_REFRESH_S) and advances them with every committed reading the live bus
brings, so a health request judges what is already in memory. The bus is QoS 0: a reading it
lost only leaves the tally behind until the next load, which `load` merges without stepping
back over what the bus already told.
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from api.analysis.health import SeriesFacts

# Gaps seen on the bus that the cadence is learned from: enough to outvote a dropout or a
# burst, few enough that a device switched to a new cadence is judged by it within minutes.
RECENT_GAPS = 15
# From this many bus gaps on, their median is the cadence (fewer: the database's estimate).
MIN_GAPS = 3


class SeriesTally:
    """One series: its newest reading, the run of its newest value, its recent gaps."""

    __slots__ = ("_facts", "gaps", "last_time", "last_value", "learned_gap_s", "metric", "run", "run_since")

    def __init__(self, loaded: SeriesFacts) -> None:
        self.metric = loaded.metric
        self.last_time = loaded.last_time
        self.last_value = loaded.last_value
        self.run = loaded.run
        self.run_since = loaded.run_since
        self.learned_gap_s = loaded.median_gap_s  # the database's estimate
        self.gaps: deque[float] = deque(maxlen=RECENT_GAPS)
        self._facts: SeriesFacts | None = loaded

    @classmethod
    def first(cls, metric: str, time: datetime, value: float) -> SeriesTally:
        return cls(SeriesFacts(metric, time, value, 1, time, None))

    def add(self, time: datetime, value: float) -> bool:
        """A committed reading; False (and nothing changes) when it is not newer than the newest:
        a late or redelivered reading says nothing about the series' present."""
        if time <= self.last_time:
            return False
        self.gaps.append((time - self.last_time).total_seconds())
        if value == self.last_value:
            self.run += 1
        else:
            self.run, self.run_since = 1, time
        self.last_time, self.last_value = time, value
        self._facts = None
        return True

    def load(self, loaded: SeriesFacts) -> None:
        """The database's facts of this series: its cadence estimate always; its newest reading
        and run only when they are newer than what the bus brought (a lost bus message heals)."""
        self.learned_gap_s = loaded.median_gap_s
        if loaded.last_time > self.last_time:
            self.last_time, self.last_value = loaded.last_time, loaded.last_value
            self.run, self.run_since = loaded.run, loaded.run_since
        self._facts = None

    def median_gap_s(self) -> float | None:
        if len(self.gaps) >= MIN_GAPS or (self.learned_gap_s is None and self.gaps):
            return float(statistics.median(self.gaps))
        return self.learned_gap_s

    def facts(self) -> SeriesFacts:
        """The series as api/analysis/health.py judges it (built once per change, not per request)."""
        if self._facts is None:
            self._facts = SeriesFacts(self.metric, self.last_time, self.last_value, self.run, self.run_since,
                                      self.median_gap_s())
        return self._facts
