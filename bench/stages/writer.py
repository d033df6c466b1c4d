"""The database write alone (write_cost.py): ingest's batches into the series-keyed model against the
text-keyed baseline, with and without the rollups, and a steady fleet beside the mix."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import write_cost
from bench.harness import Bench
from bench.legacy_writer import LAST_VERSION
from ingest.prepare import Inbound, prepare, prepare_config


def stage_writer(b: Bench, batches: int) -> dict[str, Any]:
    """The database write alone (write_cost.py)."""
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
    # The steady fleet: every series of the mix once per batch (as many batches), a minute apart,
    # capped at a batch's worth of readings; live data, the last minutes (today: a day not folded
    # yet, as a live fleet's).
    series = sorted({k for p in prepared for k in zip(p.sensor_ids, p.metrics, strict=True)})
    series = series[:max(len(p) for p in prepared)]
    now = base.replace(second=0, microsecond=0)
    steady = write_cost.steady_fleet(series, batches, now - timedelta(minutes=batches))
    urls: dict[str, str] = {}
    try:
        for v in write_cost.VARIANTS:
            urls[v.name] = b.create_db(v.name, until=LAST_VERSION if v.legacy else None)
        for v in write_cost.STEADY_VARIANTS:
            urls[f"steady_{v.name}"] = b.create_db(f"steady_{v.name}", until=LAST_VERSION if v.legacy else None)
        out = asyncio.run(write_cost.measure(urls, prepared, batches * size, steady))
    finally:
        for url in urls.values():
            b.drop_db(url)
    out["method"] = ("ingest's Writer (series-keyed raw rows, hourly and daily rollups, one transaction per batch) "
                     "against the text-keyed writer before migration 0007 (bench/legacy_writer.py) and a bare "
                     "INSERT ... ON CONFLICT DO NOTHING into each model, the same batches one after another into "
                     "fresh databases; then a steady fleet (every series once per batch); PostgreSQL backend CPU "
                     "from /proc; bytes per raw reading after VACUUM")
    return out
