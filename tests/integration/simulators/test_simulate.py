"""Simulated device traffic through the real broker and `citysense ingest` into TimescaleDB: every reading
stored exactly once, redeliveries absorbed, malformed payloads in the dead-letter table."""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from citysense.endpoints import MqttEndpoint
from simulators.faults import FaultConfig
from simulators.fleet import load_fleet
from simulators.fleet_registration import register
from simulators.plan import build_plan
from simulators.testing import expected_rows, fleet_toml, run_plan, sample_fleet, topics_of, unique_fleet
from tests.integration.support import ROOT, count, eventually


def _now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def _rows(db: asyncpg.Connection, sensor_ids: list[str]) -> list[Any]:
    return list(await db.fetch(
        "SELECT sensor_id, metric, time, value FROM readings WHERE sensor_id = ANY($1::text[])", sensor_ids,
    ))


async def test_simulated_traffic_is_stored_exactly_once_and_malformed_is_dead_lettered(
    db: asyncpg.Connection, mqtt_endpoint: MqttEndpoint, ingest_factory: Any, unique: str,
) -> None:
    fleet = unique_fleet(sample_fleet(), unique)  # every format, kind and LoRaWAN model once
    end = _now_minute() - timedelta(minutes=15)
    start = end - timedelta(hours=3)
    plan = build_plan(fleet, start, end, seed=7, faults=FaultConfig(frozenset({"duplicates", "malformed"}), 0.08))
    assert plan.stats.faults["duplicates"] >= 5
    assert plan.stats.faults["malformed"] >= 5
    assert {e.format for e in plan.events} >= {"tasmota", "dsmr", "ttn", "chirpstack", "telraam", "shelly-gen1"}

    # The bins' depths must be in the registry before ingest reads it (at its first batch).
    await register(db, fleet)
    ingest_factory(topics=",".join(topics_of(plan.events)))
    run = await run_plan(plan, mqtt_endpoint, client_id=f"sim-test-{unique}")
    assert run.events == plan.events  # published: all of it, in order

    timed, untimed = expected_rows(run.events)
    sensor_ids = sorted({r.sensor_id for e in run.events for r in e.readings})
    malformed = [e for e in run.events if e.malformed]
    total = len(timed) + sum(untimed.values())
    topics = topics_of(run.events)

    async def arrived() -> bool:
        stored = await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[])", sensor_ids)
        rejected = await count(db, "SELECT count(*) FROM rejected_messages WHERE topic = ANY($1::text[])", topics)
        return stored >= total and rejected >= len(malformed)

    await eventually(arrived, 90, f"{total} readings and {len(malformed)} rejected messages")

    rows = await _rows(db, sensor_ids)
    stamped = [r for r in rows if (r["sensor_id"], r["metric"], r["time"]) in timed]
    assert len(stamped) == len(timed)  # every timed reading once: duplicates absorbed by the unique key
    for r in stamped:
        want = timed[(r["sensor_id"], r["metric"], r["time"])]
        assert math.isclose(r["value"], want, rel_tol=1e-12, abs_tol=1e-9), (r, want)

    # Payloads without a time carry ingest's receive time: one row per message, duplicates included.
    receive_stamped = [r for r in rows if (r["sensor_id"], r["metric"], r["time"]) not in timed]
    assert Counter((r["sensor_id"], r["metric"]) for r in receive_stamped) == untimed
    want_values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in run.events:
        for rd in e.readings:
            if rd.time is None:
                want_values[(rd.sensor_id, rd.metric)].append(rd.value)
    got_values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in receive_stamped:
        got_values[(r["sensor_id"], r["metric"])].append(r["value"])
    for key, values in want_values.items():
        assert sorted(got_values[key]) == sorted(values), key
    assert all(r["time"] > end for r in receive_stamped)  # stamped on arrival, after the simulated period

    assert len(rows) == total
    dead = await db.fetch("SELECT topic, payload, error FROM rejected_messages WHERE topic = ANY($1::text[])", topics)
    assert sorted((d["topic"], bytes(d["payload"])) for d in dead) == sorted((e.topic, e.payload) for e in malformed)
    assert all(d["error"].startswith("DecodeError") for d in dead)

    # Derived from the registered depth: every bin distance has its fill level.
    bins = [s.id for s in fleet.sensors if s.kind == "bin"]
    fills = await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[]) AND metric = "
                            "'fill_level'", bins)
    distances = await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[]) AND metric = "
                                "'distance'", bins)
    assert fills == distances > 0


async def test_citysense_simulate_command_registers_publishes_and_summarises(
    db: asyncpg.Connection, database_url: str, mqtt_endpoint: MqttEndpoint, ingest_factory: Any, unique: str,
    tmp_path: Path,
) -> None:
    fleet = unique_fleet(load_fleet().only({"tasmota:air-vaartkom", "ttn:eui-24e124136c225103",
                                            "dsmr:1SAG1100042101"}), unique)
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(fleet_toml(fleet))
    # The same plan the command will publish: --speed 3600 with --duration 30m starts ~30 minutes back.
    topics = topics_of(build_plan(fleet, _now_minute() - timedelta(hours=1), _now_minute(), seed=5).events)
    ingest_factory(topics=",".join(topics))
    env = {**os.environ, "CITYSENSE_DATABASE_URL": database_url,
           "CITYSENSE_MQTT_URL": f"mqtt://{mqtt_endpoint.host}:{mqtt_endpoint.port}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citysense.cli", "simulate", "--fleet", str(fleet_file), "--seed", "5",
        "--speed", "3600", "--duration", "30m", "--faults", "malformed", "--fault-rate", "0.2",
        "--progress-every", "0.2", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, raw_err = await asyncio.wait_for(proc.communicate(), 120)
    err = raw_err.decode()
    assert proc.returncode == 0, err
    assert "registered 3 sensors in the database" in err
    assert "simulate: done: " in err
    assert "messages per format: dsmr " in err
    assert "faults injected: malformed " in err or "faults injected: none" in err
    depth = await db.fetchval("SELECT (metadata->>'depth_mm')::float8 FROM sensors WHERE id = $1",
                              next(s.id for s in fleet.sensors if s.kind == "bin"))
    assert depth == 900.0
    district = await db.fetchval("SELECT district FROM sensors WHERE id = $1", fleet.sensors[0].id)
    assert district == fleet.sensors[0].district
    published = int(err.split("simulate: done: ", 1)[1].split(" ", 1)[0])
    assert published >= 6

    async def stored() -> bool:
        return await count(db, "SELECT count(*) FROM readings WHERE sensor_id = ANY($1::text[])",
                           [s.id for s in fleet.sensors]) > 0

    await eventually(stored, 60, "readings from the simulate command")
