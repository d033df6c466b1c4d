"""What ingest committed over a period, for the periodic INFO line (the per-batch line is DEBUG:
at thousands of readings a second it would be most of the log)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    seconds: float
    batches: int = 0
    rows: int = 0
    duplicates: int = 0
    rejected: int = 0


class BatchSummary:
    """Adds up committed batches; `add` returns the totals once `period_s` has passed since the
    last summary (and starts a new period), else None."""

    def __init__(self, period_s: float, now: float) -> None:
        self.period_s = period_s
        self._start = now
        self._batches = self._rows = self._duplicates = self._rejected = 0

    def add(self, rows: int, duplicates: int, rejected: int, now: float) -> PeriodTotals | None:
        self._batches += 1
        self._rows += rows
        self._duplicates += duplicates
        self._rejected += rejected
        if now - self._start < self.period_s:
            return None
        totals = PeriodTotals(now - self._start, self._batches, self._rows, self._duplicates, self._rejected)
        self._start = now
        self._batches = self._rows = self._duplicates = self._rejected = 0
        return totals
