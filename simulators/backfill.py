"""`citysense backfill`: simulated history written straight into the database (I/O).

Through the same path as live traffic: the plan's vendor payloads go through
ingest.prepare.prepare (decoders, derived fill levels, validation) and
ingest.writer.Writer.write (one transaction per batch, hourly rollups kept exact),
so history looks exactly as if ingest had received it, receive times included
(the simulated publish time).

Pipelined across processes: a producer process plans, encodes and decodes batch
n+1 while this one commits batch n. A thread would not do: planning and decoding
are pure Python and would hold the GIL that the database client needs, and on two
cores the producer and PostgreSQL should each have one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import queue as queue_module
import time
import traceback
from collections import Counter
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from typing import Any, TextIO

import asyncpg

from ingest.prepare import Inbound, PrepareConfig, PreparedBatch, prepare
from ingest.writer import Writer
from simulators.fleet import Fleet, from_records, to_records
from simulators.fleet_registration import register
from simulators.plan import iter_events

_QUEUE_DEPTH = 3  # prepared batches waiting for the database: bounded, so memory is too


@dataclass
class BackfillSummary:
    messages: int = 0
    rows: int = 0  # inserted
    duplicates: int = 0  # rows already there (a re-run over the same period)
    rejected: int = 0  # messages in the dead-letter table
    per_format: Counter[str] = field(default_factory=Counter)
    readings_expected: int = 0
    elapsed_s: float = 0.0
    prepare_s: float = 0.0  # plan + encode + decode + validate, in the producer process
    write_s: float = 0.0  # database transactions
    sensors: int = 0

    def lines(self) -> list[str]:
        t = max(self.elapsed_s, 1e-9)
        formats = ", ".join(f"{name} {n}" for name, n in sorted(self.per_format.items()))
        return [
            f"backfill: done: {self.rows} rows from {self.messages} messages of {self.sensors} sensors "
            f"in {self.elapsed_s:.1f} s ({self.rows / t:,.0f} rows/s, {self.messages / t:,.0f} msg/s)",
            f"  already stored (skipped): {self.duplicates}; rejected messages: {self.rejected}",
            f"  time: plan+decode {self.prepare_s:.1f} s (producer process), database writes {self.write_s:.1f} s "
            "(overlapping)",
            f"  messages per format: {formats or 'none'}",
        ]


@dataclass(frozen=True, slots=True)
class _Chunk:
    batch: PreparedBatch
    messages: int
    readings: int
    formats: Counter[str]
    reached_s: float
    spent_s: float


def _say(out: TextIO | None, line: str) -> None:
    if out is not None:
        print(line, file=out, flush=True)


def _produce(
    records: list[dict[str, Any]], start: datetime, end: datetime, seed: int, prep: PrepareConfig,
    known: Container[str], depths: Mapping[str, float], batch_size: int, out: Queue[Any],
) -> None:
    """The producer process: prepared batches into `out`, then None (or an error string)."""
    try:
        events = iter_events(from_records(records), start, end, seed, tz=prep.tz)
        while True:
            t = time.perf_counter()
            chunk = list(itertools.islice(events, batch_size))
            if not chunk:
                break
            batch = prepare([Inbound(e.topic, e.payload, e.publish_time) for e in chunk], prep, known, depths)
            out.put(_Chunk(batch, len(chunk), sum(len(e.readings) for e in chunk),
                           Counter(e.format for e in chunk), chunk[-1].publish_at, time.perf_counter() - t))
        out.put(None)
    except BaseException:  # the parent must hear of it, whatever it is
        out.put(traceback.format_exc(limit=3))


async def backfill(
    fleet: Fleet,
    start: datetime,
    end: datetime,
    seed: int,
    database_url: str,
    prep: PrepareConfig,
    *,
    batch_size: int = 4000,
    out: TextIO | None = None,
    progress_every: float = 2.0,
    writer_type: Callable[[asyncpg.Pool], Writer] = Writer,
) -> BackfillSummary:
    """`writer_type`: ingest's Writer; the conversion test passes the pre-0007 one to build an old database."""
    summary = BackfillSummary(sensors=len(fleet))
    t0 = time.monotonic()
    pool: asyncpg.Pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2, command_timeout=600)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with an event loop and threads
    chunks: Queue[Any] = ctx.Queue(maxsize=_QUEUE_DEPTH)
    producer: multiprocessing.process.BaseProcess | None = None
    try:
        await register(pool, fleet)
        _say(out, f"backfill: registered {len(fleet)} sensors (kind, district, position, metadata incl. bin "
                  "depth_mm)")
        writer = writer_type(pool)
        known: Container[str] = await writer.known_sensors() if prep.strict else frozenset()
        depths = await writer.bin_depths()
        producer = ctx.Process(
            target=_produce, name="citysense-backfill-producer", daemon=True,
            args=(to_records(fleet), start, end, seed, prep, known, depths, batch_size, chunks),
        )
        producer.start()

        def take() -> Any:
            while True:
                try:
                    return chunks.get(timeout=1.0)
                except queue_module.Empty:
                    if producer is not None and not producer.is_alive() and chunks.empty():
                        return f"the producer process died (exit code {producer.exitcode})"

        span = (end - start).total_seconds()
        next_progress = time.monotonic() + progress_every
        while True:
            item = await asyncio.to_thread(take)
            if item is None:
                break
            if isinstance(item, str):
                raise RuntimeError(f"backfill producer failed: {item.strip()}")
            result = await writer.write(item.batch)
            summary.prepare_s += item.spent_s
            summary.write_s += result.seconds
            summary.messages += item.messages
            summary.readings_expected += item.readings
            summary.rows += result.inserted
            summary.duplicates += result.duplicates
            summary.rejected += result.rejected
            summary.per_format.update(item.formats)
            now = time.monotonic()
            if now >= next_progress:
                elapsed = max(now - t0, 1e-9)
                done = 100.0 * (item.reached_s - start.timestamp()) / span if span > 0 else 100.0
                _say(out, f"backfill: {datetime.fromtimestamp(item.reached_s, UTC):%Y-%m-%dT%H:%MZ} "
                          f"({done:.0f}%) | {summary.rows} rows | {summary.rows / elapsed:,.0f} rows/s | "
                          f"{summary.messages / elapsed:,.0f} msg/s")
                next_progress = now + progress_every
    finally:
        if producer is not None:
            producer.join(0 if chunks.empty() else 0.1)
            if producer.is_alive():
                producer.terminate()  # it is done or we failed: either way nothing of it is needed
            with contextlib.suppress(Exception):
                producer.join(5)
        chunks.close()
        await pool.close()
    summary.elapsed_s = time.monotonic() - t0
    return summary
