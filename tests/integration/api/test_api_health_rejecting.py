"""Fleet health from the simulators' `malformed` fault: truncated JSON, garbage bytes and bad DSMR
telegrams published over real Mosquitto into real ingest; every dead letter that names a sensor
makes that sensor `rejecting` in a real API, and no other sensor is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from citysense.endpoints import MqttEndpoint
from simulators.faults import FaultConfig
from simulators.fleet_registration import register
from simulators.plan import build_plan
from simulators.testing import run_plan, sample_fleet, topics_of, unique_fleet
from tests.integration.support import ApiProcess, count, eventually

# Formats that name their sensor only inside the payload: a corrupted one cannot be attributed.
UNATTRIBUTABLE = {"senml", "dsmr"}


async def test_malformed_fault_shows_as_rejecting(
    db: asyncpg.Connection, mqtt_endpoint: MqttEndpoint, ingest_factory: Any, unique: str, api_server: ApiProcess,
) -> None:
    fleet = unique_fleet(sample_fleet(), unique)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    plan = build_plan(fleet, end - timedelta(minutes=40), end, seed=3,
                      faults=FaultConfig(frozenset({"malformed"}), 0.15))
    malformed = [e for e in plan.events if e.malformed]
    assert malformed
    await register(db, fleet)
    ingest_factory(topics=",".join(topics_of(plan.events)))
    await run_plan(plan, mqtt_endpoint, client_id=f"sim-rejecting-{unique}")

    async def stored() -> bool:
        n = await count(db, "SELECT count(*) FROM rejected_messages WHERE topic = ANY($1::text[])",
                        list({e.topic for e in plan.events}))
        return n >= len(malformed)

    await eventually(stored, 90, f"{len(malformed)} dead letters")
    # Every corrupted payload of a format that names its sensor on the topic is attributed to it.
    attributed = {r["sensor_id"] for r in await db.fetch(
        "SELECT DISTINCT sensor_id FROM rejected_messages WHERE topic = ANY($1::text[]) AND sensor_id IS NOT NULL",
        list({e.topic for e in plan.events}))}
    assert {e.sensor_id for e in malformed if e.format not in UNATTRIBUTABLE} <= attributed
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        health = {e["sensor_id"]: e for e in (await http.get("/api/v1/sensors/health")).json()["data"]}
    # Health judges registered sensors (a dead letter may name an id the registry does not hold:
    # nothing to judge); without a key, the public ones.
    public = {r["id"] for r in await db.fetch("SELECT id FROM sensors WHERE NOT private")}
    ours = public & ({s.id for s in fleet.sensors} | attributed)
    assert set(health) >= ours
    # A corrupted number may still parse, into one outside its metric's range: then the dead
    # letter says so and the sensor is `out_of_range`; any other dead letter makes it `rejecting`.
    rejecting = {s for s, e in health.items() if any(p["kind"] in ("rejecting", "out_of_range")
                                                     for p in e["problems"])}
    assert rejecting & ours == attributed & ours, {s: health[s]["problems"] for s in attributed & ours}
    assert rejecting & ours  # the fault struck attributable formats
    print(f"{len(rejecting & ours)} of {len(ours)} sensors rejecting, from {len(malformed)} malformed messages")
