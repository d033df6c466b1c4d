"""For tests: run a fleet against a real broker for a simulated period, as fast as possible, and get back
exactly what was published and the readings each message must yield.

    fleet = unique_fleet(sample_fleet(), unique)          # device names no other test uses
    plan = build_plan(fleet, start, end, seed=7, faults=FaultConfig(frozenset({"duplicates"}), 0.1))
    ingest = ingest_factory(topics=",".join(topics_of(plan.events)))
    run = await run_plan(plan, mqtt_endpoint)
    timed, untimed = expected_rows(run.events)

The period must lie in the past: simulated time never runs ahead of the wall clock.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from citysense.endpoints import MqttEndpoint
from simulators.encoders import BRUSSELS
from simulators.faults import FaultConfig
from simulators.fleet import FORMATS, Fleet, Sensor, load_fleet, rename
from simulators.plan import Event, Plan, PlanStats, build_plan, expected_rows
from simulators.publisher import Pace, RunSummary, Sink, publish

__all__ = ["SimulationRun", "expected_rows", "fleet_toml", "run_fleet", "run_plan", "sample_fleet", "topics_of",
           "unique_fleet"]


@dataclass(frozen=True, slots=True)
class SimulationRun:
    events: tuple[Event, ...]  # as published, in order
    stats: PlanStats
    summary: RunSummary


def sample_fleet(fleet: Fleet | None = None, per_format: int = 1) -> Fleet:
    """A small fleet: the first `per_format` sensors of every format, kind and LoRaWAN model of the default
    fleet (14 sensors)."""
    fleet = fleet or load_fleet()
    taken: dict[tuple[str, str, str], int] = {}
    chosen: list[Sensor] = []
    for s in fleet.sensors:
        key = (s.format, s.kind, s.model if FORMATS[s.format].models else "")
        if taken.get(key, 0) < per_format:
            taken[key] = taken.get(key, 0) + 1
            chosen.append(s)
    return Fleet(tuple(chosen), f"{fleet.name} (sample)")


def unique_fleet(fleet: Fleet, token: str) -> Fleet:
    """The fleet with device names made unique by `token` (8 hex digits), each within its format's rules,
    so tests running side by side on one broker and database never share a topic or a sensor id."""
    number = int(token, 16)
    renamed: list[Sensor] = []
    for i, s in enumerate(fleet.sensors):
        dev = s.device
        match s.format:
            case "sensor-community":
                device = f"{dev.split('-', 1)[0]}-{number}{i:02d}"
            case "telraam":
                device = f"{number}{i:02d}"
            case "chirpstack":
                device = f"{token.lower()}{dev[-8:]}"
            case "dsmr":
                device = f"{dev[:4]}{token.upper()}{i:02d}"
            case _:
                device = f"{dev}-{token.lower()}"
        renamed.append(rename(s, device))
    return Fleet(tuple(renamed), fleet.name)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def fleet_toml(fleet: Fleet) -> str:
    """The fleet as a fleet file (for `citysense simulate --fleet` in tests)."""
    out: list[str] = []
    for s in fleet.sensors:
        out += ["[[sensor]]", f"id = {_toml(s.id)}", f"kind = {_toml(s.kind)}", f"format = {_toml(s.format)}",
                f"model = {_toml(s.model)}", f"district = {_toml(s.district)}", f"lat = {s.lat!r}",
                f"lon = {s.lon!r}", f"private = {_toml(s.private)}", f"interval = {s.interval_s}",
                f"metadata = {_toml(dict(s.metadata))}", ""]
    return "\n".join(out)


def topics_of(events: Iterable[Event]) -> list[str]:
    return sorted({e.topic for e in events})


async def run_plan(plan: Plan, endpoint: MqttEndpoint, client_id: str | None = None,
                   sink: Sink | None = None) -> SimulationRun:
    """Publish a plan as fast as the broker (or `sink`) takes it (QoS 1, every PUBACK awaited)."""
    start = plan.events[0].publish_at if plan.events else 0.0
    summary = await publish(
        iter(plan.events), endpoint, Pace(start, math.inf, None),
        client_id=client_id or f"citysense-sim-test-{os.getpid()}-{id(plan):x}", keep_events=True,
        stats=plan.stats, progress_every=3600.0, sink=sink,
    )
    return SimulationRun(tuple(summary.events), plan.stats, summary)


async def run_fleet(
    fleet: Fleet,
    endpoint: MqttEndpoint,
    start: datetime,
    end: datetime,
    seed: int = 1,
    faults: FaultConfig | None = None,
    tz: ZoneInfo = BRUSSELS,
) -> SimulationRun:
    """Simulate [start, end) (in the past) against the broker; returns what was published."""
    return await run_plan(build_plan(fleet, start, end, seed, faults, tz), endpoint)
