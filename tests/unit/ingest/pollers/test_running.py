"""The pollers' loop: one cycle with --once, waits between cycles, backoff after errors, a cycle
that raises never ends the poller."""

from __future__ import annotations

import logging

from ingest.pollers.running import Outcome, Stopper, run

LOG = logging.getLogger("test")


class RecordingStopper(Stopper):
    """Records each wait instead of sleeping; asks to stop after `cycles` waits."""

    def __init__(self, cycles: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.cycles = cycles

    async def sleep(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if len(self.waits) >= self.cycles:
            self.event.set()
        return self.event.is_set()


def _cycles(*outcomes: Outcome | Exception):  # type: ignore[no-untyped-def]
    queue = list(outcomes)

    async def cycle() -> Outcome:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return cycle


async def test_once_runs_one_cycle_and_reports_its_errors() -> None:
    assert await run("t", _cycles(Outcome(errors=0)), 60.0, True, RecordingStopper(9), LOG) == 0
    assert await run("t", _cycles(Outcome(errors=2)), 60.0, True, RecordingStopper(9), LOG) == 1
    assert await run("t", _cycles(RuntimeError("boom")), 60.0, True, RecordingStopper(9), LOG) == 1


async def test_waits_the_interval_backs_off_after_errors_and_honours_retry_after() -> None:
    stopper = RecordingStopper(cycles=5)
    code = await run("t", _cycles(Outcome(0), Outcome(1), ConnectionRefusedError("db"), Outcome(1, wait_s=120.0),
                                  Outcome(0)), 300.0, False, stopper, LOG)
    assert code == 0  # stopped by the signal, not by an error
    interval, first_backoff, second_backoff, retry_after, after_success = stopper.waits
    assert 299.0 < interval <= 300.0
    assert 4.0 <= first_backoff <= 6.0  # 5 s ± jitter
    assert 8.0 <= second_backoff <= 12.0  # doubled: the errors continue
    assert retry_after == 120.0
    assert 299.0 < after_success <= 300.0
