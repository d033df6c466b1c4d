"""`citysense poll sensor-community` end to end: an area-API stand-in (the simulated stations plus
one indoor station) → the poller → real Mosquitto → real `citysense ingest` → TimescaleDB. What
must be stored is computed from the records the stand-in served, with a mapping of the test's own."""

from __future__ import annotations

import copy
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from simulators.api_sources import AreaSource
from simulators.api_standins import AreaStandIn
from simulators.fleet import load_fleet
from tests.integration.ingest.pollers.standins import poll, poll_env, serving, start_poll
from tests.integration.support import count, eventually

pytestmark = pytest.mark.integration

_QUANTITIES = {"P1": ("pm10", 1.0), "P2": ("pm25", 1.0), "temperature": ("temperature", 1.0),
               "humidity": ("humidity", 1.0), "pressure": ("pressure", 0.01)}
Key = tuple[str, str, datetime]


def _expected(served: list[dict[str, object]], indoor: bool) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for rec in served:
        if not indoor and rec["location"]["indoor"] == 1:  # type: ignore[index]
            continue
        sensor = f"sensor.community:{rec['sensor']['id']}"  # type: ignore[index]
        time = datetime.strptime(str(rec["timestamp"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        for item in rec["sensordatavalues"]:  # type: ignore[attr-defined]
            metric, factor = _QUANTITIES[item["value_type"]]
            out[(sensor, metric, time)] = float(item["value"]) * factor
    return out


async def _stored(db: asyncpg.Connection) -> dict[Key, float]:
    rows = await db.fetch("SELECT sensor_id, metric, time, value FROM readings")
    return {(r["sensor_id"], r["metric"], r["time"]): r["value"] for r in rows}


async def test_overlapping_polls_and_a_restart_store_each_reading_once(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = AreaSource(load_fleet())
    standin = AreaStandIn(source.records)
    ingest_factory("airrohr/+")
    log = tmp_path / "poll.log"
    with serving(standin.app()) as url:
        env = poll_env(database_url, mqtt_url, sensor_community_url=url, sensor_community_interval_s="0.3")
        # Long-running: several overlapping polls of the same five minutes, then SIGTERM...
        proc = start_poll(["sensor-community"], env, log)

        async def polls(n: int) -> bool:
            return len(standin.calls) >= n

        await eventually(lambda: polls(4), 30, "four polls")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        # ...and a restart that remembers nothing and sends all again.
        assert poll(["sensor-community", "--once"], env, log).returncode == 0
    expected = _expected(standin.served, indoor=False)
    assert expected

    async def all_stored() -> bool:
        return len(await _stored(db)) >= len(expected)

    await eventually(all_stored, 30, "every served reading stored")
    stored = await _stored(db)
    assert stored.keys() == expected.keys()
    assert all(stored[k] == pytest.approx(v) for k, v in expected.items())
    assert await count(db, "SELECT count(*) FROM rejected_messages") == 0
    text = log.read_text()
    assert re.search(r"[1-9]\d* repeated", text), "an overlapping poll skipped what the previous one sent"
    assert re.search(r"[1-9]\d* indoor left out", text)

    # The stations are registered with position, district and kind; the indoor one is not.
    rows = {r["id"]: r for r in await db.fetch("SELECT id, kind, district, lat, lon FROM sensors")}
    sensors = {k[0] for k in expected}
    assert sensors <= rows.keys()
    for sid in sensors:
        assert rows[sid]["kind"] == "air"
        assert rows[sid]["district"] is not None
        assert rows[sid]["lat"] is not None
    # The district found from the served position is the one the fleet file places the station in
    # (the stand-in's sensor ids are 2n and 2n+1, n the chip id mod 10^6).
    fleet_district = {f"sensor.community:{2 * (int(st.device.split('-')[1]) % 10**6) + k}": st.district
                      for st, indoor in source.stations() if not indoor for k in (0, 1)}
    assert {s: rows[s]["district"] for s in sensors} == {s: fleet_district[s] for s in sensors}
    assert not any(r["location"]["indoor"] == 1 and f"sensor.community:{r['sensor']['id']}" in rows  # type: ignore[index]
                   for r in standin.served)


async def test_indoor_when_asked_and_a_bad_record_dead_lettered(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = AreaSource(load_fleet())

    def records(lat: float, lon: float, km: float, now: datetime) -> list[dict[str, object]]:
        recs = source.records(lat, lon, km, now)
        bad = copy.deepcopy(recs[0])
        bad["id"] = 1
        bad["sensordatavalues"] = [{"value_type": "P1", "value": "n/a"}]
        return [*recs, bad]

    standin = AreaStandIn(records)
    ingest_factory("airrohr/+")
    with serving(standin.app()) as url:
        env = poll_env(database_url, mqtt_url, sensor_community_url=url, sensor_community_indoor="true")
        done = poll(["sensor-community", "--once"], env, tmp_path / "poll.log")
        assert done.returncode == 0, done.stderr
    good = [r for r in standin.served if r["id"] != 1]
    expected = _expected(good, indoor=True)
    assert any(r["location"]["indoor"] == 1 for r in good)  # type: ignore[index]

    async def settled() -> bool:
        return (len(await _stored(db)) >= len(expected)
                and await count(db, "SELECT count(*) FROM rejected_messages") >= 1)

    await eventually(settled, 30, "readings stored and the bad record dead-lettered")
    assert (await _stored(db)).keys() == expected.keys()
    (reason,) = [r["error"] for r in await db.fetch("SELECT error FROM rejected_messages")]
    assert "'n/a' is not a number" in reason


async def test_throttled_and_failing_api_is_waited_for_then_read(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    standin = AreaStandIn(AreaSource(load_fleet()).records, fail_next=[429, 500])
    ingest_factory("airrohr/+")
    log = tmp_path / "poll.log"
    with serving(standin.app()) as url:
        env = poll_env(database_url, mqtt_url, sensor_community_url=url, sensor_community_interval_s="600")
        proc = start_poll(["sensor-community"], env, log)
        try:

            async def served() -> bool:
                return len(standin.calls) >= 3 and "record(s) published" in log.read_text()

            # 429 waits its Retry-After (1 s), the 500 backs off (5 s); far less than the 600 s interval.
            await eventually(served, 30, "a successful poll after a 429 and a 500")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    text = log.read_text()
    assert "sensor-community: 429, retrying after 1 s" in text
    assert "HTTP 500" in text
    gaps = [(b - a).total_seconds() for a, b in zip(standin.calls, standin.calls[1:], strict=False)]
    assert 0.9 <= gaps[0] < 3  # Retry-After: 1
    assert 3.5 <= gaps[1] < 8  # the first backoff step, 5 s +- 20 %
    expected = _expected(standin.served, indoor=False)

    async def stored() -> bool:
        return len(await _stored(db)) >= len(expected)

    await eventually(stored, 30, "the served readings stored")
    assert (await _stored(db)).keys() == expected.keys()
