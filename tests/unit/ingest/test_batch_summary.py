"""The periodic summary adds up exactly the batches of its period and starts afresh after."""

from __future__ import annotations

from ingest.batch_summary import BatchSummary, PeriodTotals


def test_totals_come_once_per_period_and_reset() -> None:
    s = BatchSummary(60, now=1000.0)
    batches = [(100, 3, 1, 1010.0), (50, 0, 0, 1030.0), (20, 2, 4, 1059.9)]
    assert all(s.add(*b) is None for b in batches)
    totals = s.add(7, 1, 0, 1060.0)
    assert totals == PeriodTotals(60.0, 4, sum(b[0] for b in batches) + 7, sum(b[1] for b in batches) + 1,
                                  sum(b[2] for b in batches))
    assert s.add(5, 0, 0, 1100.0) is None  # a new period started at 1060
    assert s.add(1, 1, 1, 1120.0) == PeriodTotals(60.0, 2, 6, 1, 1)
