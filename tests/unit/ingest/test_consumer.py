"""Ingest's writers: batches may commit out of order, but are acknowledged in order.

The writer and the session are stand-ins that record; what is tested is the coordination in
`ingest.consumer` (the integration tests cover the same paths against a real broker and database)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from citysense.settings import Settings
from ingest.consumer import Ingest, _Job
from ingest.mqtt_session import Delivery
from ingest.prepare import PreparedBatch
from ingest.writer import WriteResult


class _Session:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        self.acked.extend(d.mid for d in deliveries)
        return len(deliveries)

    def publish(self, topic: str, payload: bytes) -> None:
        pass


class _Writer:
    """Commits batch i after delays[i] seconds (None: the database is away for good)."""

    def __init__(self, delays: list[float | None]) -> None:
        self.delays = delays
        self.committed: list[int] = []

    async def write(self, batch: PreparedBatch) -> WriteResult:
        i = int(batch.rejects[0][1])
        delay = self.delays[i]
        if delay is None:
            raise OSError("connection refused")
        await asyncio.sleep(delay)
        self.committed.append(i)
        return WriteResult(0, 0, 0, 0, 0, delay)


def _job(i: int, after: asyncio.Future[None] | None) -> _Job:
    now = datetime.now(UTC)
    taken = [Delivery(1, 10 * i + k, 1, "t", b"{}", now, 0.0) for k in range(3)]
    batch = PreparedBatch(rejects=[(now, str(i), b"{}", "test")])  # the index travels as the topic
    return _Job(taken, batch, after, asyncio.get_running_loop().create_future())


async def _run(delays: list[float | None], writers: int, stopping: bool = False) -> tuple[_Session, _Writer]:
    ingest = Ingest(Settings(ingest_writers=writers, ingest_live_topic=""))
    session, writer = _Session(), _Writer(delays)
    ingest.session = session  # type: ignore[assignment]
    if stopping:
        ingest._stop.set()
    previous = None
    for i in range(len(delays)):
        job = _job(i, previous)
        previous = job.acked
        ingest._queue._maxsize = 0  # all jobs queued up front
        ingest._queue.put_nowait(job)
    for _ in range(writers):
        ingest._queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*(ingest._write(writer) for _ in range(writers))), 60)  # type: ignore[arg-type]
    return session, writer


async def test_a_later_batch_that_commits_first_is_acknowledged_after_the_earlier_one() -> None:
    session, writer = await _run([0.3, 0.01, 0.2, 0.01], writers=2)
    assert writer.committed[:2] == [1, 0]  # batch 1 committed first
    assert session.acked == [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]


async def test_one_writer_commits_and_acknowledges_in_order() -> None:
    session, writer = await _run([0.05, 0.01, 0.01], writers=1)
    assert writer.committed == [0, 1, 2]
    assert session.acked == [0, 1, 2, 10, 11, 12, 20, 21, 22]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
async def test_nothing_after_a_batch_that_could_not_be_committed_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingest.consumer._DRAIN_TIMEOUT_S", 0.0)
    # Stopping with the database away: batch 0 is given up; batch 1 committed but must not be
    # acknowledged before batch 0, so it is left to the broker too.
    session, writer = await _run([None, 0.01], writers=2, stopping=True)
    assert writer.committed == [1]
    assert session.acked == []
