"""Fleet health from the simulators' fault injection: a simulated fleet with failing batteries
(the low-battery fault) published over real Mosquitto into real ingest, judged by a real API;
each sensor's `low_battery` compared with the last battery value the plan published for it."""

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


async def test_low_battery_fault_shows_as_low_battery(
    db: asyncpg.Connection, mqtt_endpoint: MqttEndpoint, ingest_factory: Any, unique: str, api_server: ApiProcess,
) -> None:
    fleet = unique_fleet(sample_fleet(), unique)
    ids = sorted(s.id for s in fleet.sensors)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    # Half the fleet with failing batteries, the other half without the fault.
    failing = build_plan(fleet.only(set(ids[::2])), end - timedelta(hours=2), end, seed=11,
                         faults=FaultConfig(frozenset({"low-battery"}), 0.4))
    healthy = build_plan(fleet.only(set(ids[1::2])), end - timedelta(hours=2), end, seed=11)
    assert failing.stats.faults["low-battery"] > 0
    await register(db, fleet)
    ingest_factory(topics=",".join(topics_of([*failing.events, *healthy.events])))
    events = [*(await run_plan(failing, mqtt_endpoint, client_id=f"sim-health-{unique}")).events,
              *(await run_plan(healthy, mqtt_endpoint, client_id=f"sim-health-{unique}")).events]

    # The last battery value each sensor published, by reading time: what health must judge.
    last: dict[str, tuple[datetime, float]] = {}
    for e in events:
        for r in e.readings:
            if r.metric != "battery" or r.time is None:
                continue
            if r.sensor_id not in last or r.time >= last[r.sensor_id][0]:
                last[r.sensor_id] = (r.time, r.value)
    assert any(v <= 15 for _, v in last.values())  # the fault struck
    assert any(v > 15 for _, v in last.values())  # and the healthy half is judged too

    async def stored() -> bool:
        n = await count(db, "SELECT count(*) FROM readings WHERE metric = 'battery' AND sensor_id = ANY($1::text[]) "
                            "AND time = ANY($2::timestamptz[])", list(last), [t for t, _ in last.values()])
        return n == len(last)

    await eventually(stored, 90, "every sensor's last battery reading")
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        health = {e["sensor_id"]: e for e in (await http.get("/api/v1/sensors/health")).json()["data"]}
    for sensor_id, (_, value) in last.items():
        kinds = {p["kind"] for p in health[sensor_id]["problems"]}
        assert ("low_battery" in kinds) == (value <= 15), (sensor_id, value, health[sensor_id])
    print(f"{sum(v <= 15 for _, v in last.values())} of {len(last)} battery-reporting sensors low")
