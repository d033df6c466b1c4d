"""Fleet health from the simulators' `stuck` fault: a simulated fleet whose PM and humidity
elements fail (999.9, 99.9 %) published over real Mosquitto into real ingest, judged by a real
API; each sensor's `stuck` compared with the trailing run of one value in what the plan published."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from citysense.endpoints import MqttEndpoint
from simulators.faults import FaultConfig
from simulators.fleet_registration import register
from simulators.plan import Event, build_plan
from simulators.testing import run_plan, sample_fleet, topics_of, unique_fleet
from tests.integration.support import ApiProcess, count, eventually

WATCHED = ("pm1", "pm25", "pm10", "humidity")
REPEATS = 12  # docs/fleet-health.md: twelve identical readings in a row of a PM or humidity series
CLEAN_AIR = {"pm1": 5.0, "pm25": 5.0, "pm10": 5.0}  # and a PM value at or below 5 µg/m³ is clean air


def frozen_to_the_end(events: Sequence[Event]) -> tuple[dict[str, set[str]], dict[tuple[str, str], datetime]]:
    """Per watched sensor, the metrics whose trailing run of one value is REPEATS long or more (plainly,
    in reading-time order); and each watched series' last reading time."""
    series: dict[tuple[str, str], dict[datetime, float]] = defaultdict(dict)
    for e in events:
        for r in e.readings:
            if r.metric in WATCHED and r.time is not None:
                series[(r.sensor_id, r.metric)].setdefault(r.time, r.value)
    expected: dict[str, set[str]] = defaultdict(set)
    last_times: dict[tuple[str, str], datetime] = {}
    for (sensor_id, metric), by_time in series.items():
        values = [by_time[t] for t in sorted(by_time)]
        run = len(values) - next((i + 1 for i in range(len(values) - 1, -1, -1) if values[i] != values[-1]), 0)
        expected[sensor_id]  # every watched sensor is judged
        if run >= REPEATS and values[-1] > CLEAN_AIR.get(metric, float("-inf")):
            expected[sensor_id].add(metric)
        last_times[(sensor_id, metric)] = max(by_time)
    return expected, last_times


async def test_stuck_fault_shows_as_stuck_on_the_frozen_metric(
    db: asyncpg.Connection, mqtt_endpoint: MqttEndpoint, ingest_factory: Any, unique: str, api_server: ApiProcess,
) -> None:
    fleet = unique_fleet(sample_fleet(), unique)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    # The episodes fall where the seed and the clock put them, so whether one reaches the end of the
    # window depends on when the test runs: take the first seed whose plan has both kinds of sensor.
    for seed in range(5, 105):
        plan = build_plan(fleet, end - timedelta(hours=3), end, seed=seed,
                          faults=FaultConfig(frozenset({"stuck"}), 0.3))
        planned, _ = frozen_to_the_end(plan.events)
        if any(planned.values()) and any(not m for m in planned.values()):
            break
    else:
        raise AssertionError("no seed in 5..104 froze some series to the end and left others well")
    assert plan.stats.faults["stuck"] > 0
    await register(db, fleet)
    ingest_factory(topics=",".join(topics_of(plan.events)))
    events = (await run_plan(plan, mqtt_endpoint, client_id=f"sim-stuck-{unique}")).events

    expected, last_times = frozen_to_the_end(events)
    assert any(expected.values()), "the fault froze some series to the end"
    assert any(not m for m in expected.values()), "and some sensors stayed well"

    async def stored() -> bool:
        n = await count(db, "SELECT count(*) FROM readings WHERE (sensor_id, metric, time) IN "
                            "(SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]))",
                        [s for s, _ in last_times], [m for _, m in last_times], list(last_times.values()))
        return n == len(last_times)

    await eventually(stored, 90, "every watched series' last reading")
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        health = {e["sensor_id"]: e for e in (await http.get("/api/v1/sensors/health")).json()["data"]}
    for sensor_id, metrics in expected.items():
        got = {p["metric"] for p in health[sensor_id]["problems"] if p["kind"] == "stuck" and p["metric"] in WATCHED}
        assert got == metrics, (sensor_id, metrics, health[sensor_id])
        for p in health[sensor_id]["problems"]:
            if p["kind"] == "stuck" and p["metric"] in WATCHED:
                assert "999.9" in p["detail"] or "1000" in p["detail"] or "99.9" in p["detail"] or "100" in \
                    p["detail"], p
    print(f"{sum(bool(m) for m in expected.values())} of {len(expected)} PM/humidity sensors stuck")
