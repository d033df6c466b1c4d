"""Backfill's producer (pure: plan -> prepared batches) and its summary; the database side is in
tests/integration/simulators/test_backfill.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.prepare import PrepareConfig
from simulators.backfill import BackfillSummary, _Chunk, _produce
from simulators.fleet import to_records
from simulators.plan import build_plan
from simulators.testing import sample_fleet

PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))


class _Queue:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def test_producer_prepares_every_planned_reading() -> None:
    fleet = sample_fleet()
    start = datetime(2026, 11, 20, tzinfo=UTC)
    end = start + timedelta(hours=12)
    depths = {s.id: float(s.metadata["depth_mm"]) for s in fleet.sensors if s.kind == "bin"}
    q = _Queue()
    _produce(to_records(fleet), start, end, 4, PREP, frozenset(), depths, 100, q)  # type: ignore[arg-type]
    assert q.items[-1] is None
    chunks: list[_Chunk] = q.items[:-1]
    plan = build_plan(fleet, start, end, 4)
    assert sum(c.messages for c in chunks) == len(plan.events)
    assert sum(len(c.batch) for c in chunks) == plan.stats.readings == sum(c.readings for c in chunks)
    assert all(not c.batch.rejects for c in chunks)
    assert sum(sum(c.formats.values()) for c in chunks) == len(plan)


def test_producer_reports_its_failure_as_text() -> None:
    q = _Queue()
    _produce([{"bad": "record"}], datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), 1, PREP,
             frozenset(), {}, 100, q)  # type: ignore[arg-type]
    assert len(q.items) == 1
    assert isinstance(q.items[0], str)
    assert "KeyError" in q.items[0]


def test_summary_lines() -> None:
    s = BackfillSummary(messages=1000, rows=5000, duplicates=3, rejected=0, elapsed_s=2.0, prepare_s=1.5,
                        write_s=1.2, sensors=40)
    s.per_format.update({"dsmr": 400, "ttn": 600})
    assert s.lines() == [
        "backfill: done: 5000 rows from 1000 messages of 40 sensors in 2.0 s (2,500 rows/s, 500 msg/s)",
        "  already stored (skipped): 3; rejected messages: 0",
        "  time: plan+decode 1.5 s (producer process), database writes 1.2 s (overlapping)",
        "  messages per format: dsmr 400, ttn 600",
    ]
