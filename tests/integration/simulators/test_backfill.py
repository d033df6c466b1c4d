"""`citysense backfill` writes simulated history through ingest's own path (prepare + writer): the database
holds exactly what an independent computation over the plan says, and a re-run adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import pytest

from ingest.prepare import PrepareConfig
from simulators.backfill import backfill
from simulators.plan import build_plan
from simulators.testing import sample_fleet, unique_fleet

PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))


async def test_two_days_of_history_match_the_plan(db: asyncpg.Connection, database_url: str, unique: str) -> None:
    fleet = unique_fleet(sample_fleet(), unique)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=2)
    summary = await backfill(fleet, start, end, 3, database_url, PREP, batch_size=700)

    # The expectation, computed independently from the plan: every reading of every message, stamped with
    # the publish time where the payload has no time of its own (backfill "receives" it then).
    plan = build_plan(fleet, start, end, 3)
    keys: dict[tuple[str, str, datetime], float] = {}
    for e in plan.events:
        for r in e.readings:
            keys.setdefault((r.sensor_id, r.metric, r.time or e.publish_time), r.value)
    metrics = np.array([k[1] for k in keys])
    values = np.array(list(keys.values()))
    sensor_ids = sorted({k[0] for k in keys})

    assert summary.messages == len(plan.events)
    assert summary.rows == len(keys) == plan.stats.readings  # nothing in the plan collides
    assert summary.rejected == 0

    rows = await db.fetch(
        "SELECT metric, count(*) AS n, sum(value) AS s, min(time) AS t0, max(time) AS t1 FROM readings "
        "WHERE sensor_id = ANY($1::text[]) GROUP BY metric", sensor_ids,
    )
    got = {r["metric"]: r for r in rows}
    assert set(got) == set(np.unique(metrics))
    for metric in np.unique(metrics):
        mask = metrics == metric
        assert got[metric]["n"] == int(mask.sum()), metric
        assert got[metric]["s"] == pytest.approx(float(values[mask].sum()), rel=1e-9), metric
    assert min(r["t0"] for r in rows) >= start - timedelta(hours=2)
    assert max(r["t1"] for r in rows) < end

    # The hourly rollups were kept by the same writer: they count every row once.
    hourly = await db.fetchval("SELECT sum(count) FROM readings_hourly WHERE sensor_id = ANY($1::text[])",
                               sensor_ids)
    assert hourly == len(keys)

    # A meter's energy over the period, from the rollups, is what its counter says (no resets in DSMR).
    dsmr = next(s.id for s in fleet.sensors if s.format == "dsmr")
    first, last = await db.fetchrow(
        "SELECT (array_agg(value ORDER BY time))[1], (array_agg(value ORDER BY time DESC))[1] FROM readings "
        "WHERE sensor_id = $1 AND metric = 'energy_import'", dsmr,
    )
    increase = await db.fetchval(
        "SELECT sum(increase) FROM readings_hourly WHERE sensor_id = $1 AND metric = 'energy_import'", dsmr,
    )
    steps = await db.fetchval(
        "SELECT sum(first_value - prev) FROM (SELECT first_value, lag(last_value) OVER (ORDER BY bucket) AS prev "
        "FROM readings_hourly WHERE sensor_id = $1 AND metric = 'energy_import') x", dsmr,
    )
    assert increase + steps == pytest.approx(last - first, rel=1e-9)

    # The fleet is registered: district, privacy, bin depth; bins got their fill level.
    registered = await db.fetch("SELECT id, district, private, metadata->>'depth_mm' AS depth FROM sensors "
                                "WHERE id = ANY($1::text[])", [s.id for s in fleet.sensors])
    assert {r["id"]: r["district"] for r in registered} == {s.id: s.district for s in fleet.sensors}
    assert {r["id"] for r in registered if r["depth"]} == {s.id for s in fleet.sensors if s.kind == "bin"}
    fills = await db.fetchval("SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[]) AND "
                              "metric = 'fill_level'", sensor_ids)
    assert fills == int((metrics == "distance").sum()) > 0

    again = await backfill(fleet, start, end, 3, database_url, PREP, batch_size=5000)
    assert again.rows == 0
    assert again.duplicates == summary.rows
