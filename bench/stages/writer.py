"""The database write alone (write_cost.py): ingest's batches, with and without the rollups."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import write_cost
from bench.harness import Bench
from ingest.prepare import Inbound, prepare, prepare_config


def stage_writer(b: Bench, batches: int) -> dict[str, Any]:
    """The database write alone (write_cost.py): ingest's batches, with and without the rollups."""
    size = b.settings.ingest_batch_max_messages
    batches = max(1, min(batches, len(b.set) // size))
    cfg = dataclasses.replace(prepare_config(b.settings), oldest=None)  # the set lies in the past
    base = datetime.now(UTC)
    prepared = []
    for k in range(batches):
        # Every message its own receive time, as ingest stamps them: untimed readings stay distinct.
        msgs = b.set.messages(k * size, (k + 1) * size)
        prepared.append(prepare([Inbound(t, p, base + timedelta(milliseconds=k * size + i))
                                 for i, (t, p) in enumerate(msgs)], cfg))
    full, bare = b.create_db("writer"), b.create_db("insert_only")
    try:
        out = asyncio.run(write_cost.measure(full, bare, prepared, batches * size))
    finally:
        b.drop_db(full)
        b.drop_db(bare)
    out["method"] = ("ingest's Writer (raw rows, hourly and daily rollups, one transaction per batch) against "
                     "a bare INSERT ... ON CONFLICT DO NOTHING of the same rows, one batch after another into "
                     "fresh databases; PostgreSQL backend CPU from /proc")
    return out
