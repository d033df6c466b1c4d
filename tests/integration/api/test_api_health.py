"""GET /api/v1/sensors/health end to end: device payloads over a real Mosquitto into a real
`citysense ingest`, judged by a real `citysense api`, compared with statuses computed here from
what was published (plain Python, not the API's SQL or its analysis module)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson

from citysense.endpoints import MqttEndpoint
from tests.integration.support import ApiProcess, count, eventually, publish_all

INTERVAL_S = 10.0


@dataclass
class Device:
    """What one simulated device publishes: (seconds relative to now, readings) per message."""

    name: str
    messages: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    garbage: int = 0  # undecodable payloads on its topic
    receive_skew_s: float = 0.0  # device clock ahead (< 0) or behind (> 0) the receive time


def _steady(n: int, last_s: float, metric: str = "power", value: float | None = None,
            extra: dict[str, float] | None = None) -> list[tuple[float, dict[str, float]]]:
    return [(last_s - INTERVAL_S * (n - 1 - i),
             {metric: value if value is not None else 100.0 + 7 * i % 13, **(extra or {})}) for i in range(n)]


def fleet(now: datetime) -> list[Device]:
    # Telraam-like: hourly reports stamped with the start of their counting hour.
    hour = (now.replace(minute=0, second=0, microsecond=0) - now).total_seconds()
    return [
        Device("ok", _steady(6, 0.0)),
        Device("late", _steady(6, -45.0)),  # 4.5 intervals quiet
        Device("silent", _steady(6, -400.0)),  # 40 intervals quiet
        Device("stuck", _steady(14, 0.0, "pm25", 999.9)),  # the PM sensor's classic failure value
        Device("range", [*_steady(5, -INTERVAL_S), (0.0, {"power": 50.0, "voltage": 3000.0})]),
        Device("garbage", _steady(6, 0.0), garbage=2),
        Device("battery", _steady(6, 0.0, extra={"battery": 12.0})),
        Device("skew", _steady(6, 0.0), receive_skew_s=-7 * 60.0),  # 7 min ahead: accepted, but wrong
        Device("uptime", [(hour - 2 * 3600, {"bikes": 40.0, "uptime": 0.9}),
                          (hour - 3600, {"bikes": 12.0, "uptime": 0.3})]),
    ]


def payloads(unique: str, devices: list[Device], now: datetime) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for d in devices:
        topic = f"citysense/json/{unique}-{d.name}"
        for at, readings in d.messages:
            device_time = now + timedelta(seconds=at - d.receive_skew_s)
            out.append((topic, orjson.dumps({"time": device_time.isoformat(), "readings": readings})))
        out.extend((topic, b'{"readings": {"power": ') for _ in range(d.garbage))
    return out


def expected_problems(d: Device, now: datetime, published: datetime) -> set[str]:
    """The contract's rules applied to what the device published, computed plainly."""
    times = sorted(at - d.receive_skew_s for at, _ in d.messages)
    interval = statistics.median(b - a for a, b in itertools.pairwise(times))
    quiet = (now - published).total_seconds() - times[-1]
    problems: set[str] = set()
    if quiet > min(20 * interval, 86400):
        problems.add("silent")
    elif quiet > 3 * interval:
        problems.add("late")
    values = [r.get("pm25") for _, r in d.messages]
    if len(values) >= 12 and len(set(values[-12:])) == 1 and values[-1] is not None:
        problems.add("stuck")
    if any(v > 1000 for _, r in d.messages for k, v in r.items() if k == "voltage"):
        problems.add("out_of_range")
    if d.garbage:
        problems.add("rejecting")
    if any(r.get("battery", 100) <= 15 for _, r in d.messages[-1:]):
        problems.add("low_battery")
    # Received about when published: the newest device time against that, for payloads whose
    # time is a moment (a counting hour's start says nothing about the clock).
    if d.name != "uptime" and abs(times[-1]) > 300:
        problems.add("clock_skew")
    if 0 < d.messages[-1][1].get("uptime", 1) < 0.5:
        problems.add("low_uptime")
    return problems


ORDER = ["silent", "late", "stuck", "out_of_range", "rejecting", "low_battery", "clock_skew", "low_uptime"]


async def _health(http: httpx.AsyncClient, unique: str, **params: str) -> dict[str, dict[str, object]]:
    r = await http.get("/api/v1/sensors/health", params=params)
    assert r.status_code == 200, r.text
    return {e["sensor_id"].removeprefix(f"citysense:{unique}-"): e for e in r.json()["data"]
            if e["sensor_id"].startswith(f"citysense:{unique}-")}


async def test_every_problem_kind_through_real_ingest_and_the_api(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str, api_server: ApiProcess
) -> None:
    ingest_factory(topics="citysense/json/+")
    published = datetime.now(UTC)
    devices = fleet(published)
    messages = payloads(unique, devices, published)
    await publish_all(mqtt_endpoint, messages)
    n_readings = sum(len(r) for d in devices for _, r in d.messages) - 1  # the refused voltage

    async def stored() -> bool:
        readings = await count(db, "SELECT count(*) FROM readings WHERE sensor_id LIKE $1", f"citysense:{unique}-%")
        dead = await count(db, "SELECT count(*) FROM rejected_messages WHERE topic LIKE $1",
                           f"citysense/json/{unique}-%")
        return readings == n_readings and dead == 3

    await eventually(stored, 30, f"{n_readings} readings and 3 dead letters")
    # Every dead letter names its sensor: the garbage from its topic, the refused value from its reading.
    named = await db.fetch("SELECT DISTINCT sensor_id FROM rejected_messages WHERE topic LIKE $1",
                           f"citysense/json/{unique}-%")
    assert {r["sensor_id"] for r in named} == {f"citysense:{unique}-range", f"citysense:{unique}-garbage"}

    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        asked = datetime.now(UTC)
        health = await _health(http, unique)
        assert set(health) == {d.name for d in devices}
        for d in devices:
            want = expected_problems(d, asked, published)
            entry = health[d.name]
            got = {p["kind"] for p in entry["problems"]}  # type: ignore[union-attr]
            assert got == want, (d.name, entry)
            assert entry["status"] == (min(want, key=ORDER.index) if want else "ok"), (d.name, entry)
        assert health["stuck"]["problems"][0]["metric"] == "pm25"  # type: ignore[index]
        assert health["range"]["problems"][0]["metric"] == "voltage"  # type: ignore[index]
        assert abs(health["ok"]["expected_interval_s"] - INTERVAL_S) < 0.5  # type: ignore[operator]
        assert abs(health["uptime"]["expected_interval_s"] - 3600) < 1  # type: ignore[operator]

        # The filters: status and kind.
        stuck_only = await _health(http, unique, status="stuck")
        assert set(stuck_only) == {"stuck"}
        mobility = await _health(http, unique, kind="mobility")
        assert set(mobility) == {"uptime"}

        # The healthy sensor falls late within two intervals of its threshold (3 intervals).
        last = published
        t0 = time.monotonic()

        async def late() -> bool:
            return (await _health(http, unique))["ok"]["status"] == "late"

        await eventually(late, 3 * INTERVAL_S + 2 * INTERVAL_S + 5, "the quiet sensor to turn late", interval=1.0)
        waited = (datetime.now(UTC) - last).total_seconds()
        assert waited >= 3 * INTERVAL_S
        assert waited <= 5 * INTERVAL_S, waited
        assert time.monotonic() - t0 < 60
        await asyncio.sleep(0)
