"""`citysense poll telraam` end to end: a Telraam-shaped stand-in API (the simulated counters) →
the poller → real Mosquitto → real `citysense ingest` → TimescaleDB. What must be stored is
computed from the rows the stand-in served, with a field mapping of the test's own."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devenv.mosquitto import PrivateBroker
from simulators.api_sources import TelraamSource
from simulators.api_standins import TelraamStandIn
from simulators.fleet import load_fleet
from tests.integration.ingest.pollers.standins import poll, poll_env, serving, start_poll
from tests.integration.support import IngestProcess, count, eventually, free_port

pytestmark = pytest.mark.integration

SEGMENTS = ("348917", "352870")
KEY = "test-key-0123456789"
_MODES = {"bike": "bikes", "car": "cars", "pedestrian": "pedestrians", "heavy": "heavy_vehicles", "v85": "speed_v85"}
Row = tuple[str, str, datetime, float]


def _expected(segment: str, rows: list[dict[str, object]]) -> set[tuple[str, str, datetime]]:
    """(sensor, metric, hour) that the rows must yield: the uptime always, the modes when observed."""
    out: set[tuple[str, str, datetime]] = set()
    for row in rows:
        hour = datetime.fromisoformat(str(row["date"]).replace("Z", "+00:00"))
        out.add((f"telraam:{segment}", "uptime", hour))
        if row["uptime"] != 0:
            out |= {(f"telraam:{segment}", metric, hour) for field, metric in _MODES.items()
                    if row.get(field) is not None}
    return out


async def _stored(db: asyncpg.Connection) -> set[tuple[str, str, datetime]]:
    rows = await db.fetch("SELECT sensor_id, metric, time FROM readings WHERE sensor_id LIKE 'telraam:%'")
    return {(r["sensor_id"], r["metric"], r["time"]) for r in rows}


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


async def test_backfill_resume_and_crash_store_every_hour_once(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = TelraamSource(load_fleet())
    standin = TelraamStandIn(source.rows, api_key=KEY, max_window=timedelta(days=1), throttle_next=1)
    since = _hour(datetime.now(UTC)) - timedelta(days=3, hours=5)
    await db.executemany("INSERT INTO sensors (id, source, kind) VALUES ($1, 'telraam', 'mobility')",
                         [(f"telraam:{s}",) for s in SEGMENTS])
    ingest_factory("telraam/+/traffic")
    log = tmp_path / "poll.log"
    with serving(standin.app()) as url:
        # A call a second: a pass over 2 segments x 4 windows takes ~8 s, long enough to kill it midway.
        slow = poll_env(database_url, mqtt_url, telraam_url=url, telraam_api_key=KEY, telraam_max_window_days="1",
                        telraam_daily_calls="86400")
        proc = start_poll(["telraam", "--once", "--since", since.isoformat()], slow, log)

        async def three_calls() -> bool:
            return len(standin.calls) >= 3

        await eventually(three_calls, 60, "three calls", interval=0.05)
        proc.send_signal(signal.SIGKILL)  # a crash in the middle of the backfill
        proc.wait(10)
        crashed_after = len(standin.calls)
        assert 3 <= crashed_after < 2 * 4

        fast = {**slow, "CITYSENSE_TELRAAM_DAILY_CALLS": "10000000"}
        done = poll(["telraam", "--once", "--since", since.isoformat()], fast, log)
        assert done.returncode == 0, done.stderr
        end = max(c[2] for c in standin.calls)
        # It asked only complete hours, in windows the API accepts, one call throttled and retried.
        assert end <= _hour(datetime.now(UTC))
        assert all(c[2] - c[1] <= timedelta(days=1) for c in standin.calls)
        assert standin.refused == 1
        # The restart resumed: per segment, no hour was asked twice beyond the one window the crash cut.
        for seg in SEGMENTS:
            windows = sorted((c[1], c[2]) for c in standin.calls if c[0] == seg)
            assert windows[0][0] == since
            covered = sum((b - a for a, b in windows), timedelta())
            assert covered <= end - since + timedelta(days=1)

        expected = set().union(*(_expected(s, source.rows(s, since, end, end)) for s in SEGMENTS))
        assert len(expected) > 2 * 24 * 3  # every hour yields at least its uptime

        async def all_stored() -> bool:
            return len(await _stored(db)) >= len(expected)

        await eventually(all_stored, 60, "every polled reading stored")
        assert await _stored(db) == expected
        assert await count(db, "SELECT count(*) FROM rejected_messages") == 0

        # A third run finds nothing new to ask for (or only the hour that has just ended).
        calls_before = len(standin.calls)
        again = poll(["telraam", "--once", "--since", since.isoformat()], fast, log)
        assert again.returncode == 0, again.stderr
        for seg, start, _ in standin.calls[calls_before:]:
            assert start == end, f"segment {seg} re-asked from {start}, not from the last stored hour {end}"
        await eventually(all_stored, 30, "still stored")
        assert {k for k in await _stored(db) if k[2] < end} == expected
    text = log.read_text()
    assert "telraam: backfilling" in text
    assert "call(s) done" in text
    assert "rate limited, retry after 1s" in text


async def test_bad_row_is_dead_lettered_and_the_rest_stored(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = TelraamSource(load_fleet())
    since = _hour(datetime.now(UTC)) - timedelta(hours=10)
    bad_hour = since + timedelta(hours=3)

    def rows(segment: str, start: datetime, end: datetime, now: datetime) -> list[dict[str, object]]:
        out = source.rows(segment, start, end, now)
        for row in out:
            if row["date"] == bad_hour.strftime("%Y-%m-%dT%H:%M:%S.000Z"):
                row["uptime"] = "most"  # read for every hour, also an unobserved night hour
        return out

    standin = TelraamStandIn(rows)
    ingest_factory("telraam/+/traffic")
    with serving(standin.app()) as url:
        env = poll_env(database_url, mqtt_url, telraam_url=url, telraam_daily_calls="10000000")
        done = poll(["telraam", "--once", "--segments", SEGMENTS[0], "--since", since.isoformat()], env,
                    tmp_path / "poll.log")
        assert done.returncode == 0, done.stderr
    end = standin.calls[-1][2]
    good = [r for r in source.rows(SEGMENTS[0], since, end, end) if r["date"] != bad_hour.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")]
    expected = _expected(SEGMENTS[0], good)

    async def settled() -> bool:
        return (len(await _stored(db)) >= len(expected)
                and await count(db, "SELECT count(*) FROM rejected_messages") >= 1)

    await eventually(settled, 60, "readings stored and the bad hour dead-lettered")
    assert await _stored(db) == expected
    (reason,) = [r["error"] for r in await db.fetch("SELECT error FROM rejected_messages")]
    assert "uptime: 'most' is not a number" in reason


async def test_long_running_poller_stops_cleanly_on_sigterm(
    db: asyncpg.Connection, database_url: str, mqtt_url: str, ingest_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    standin = TelraamStandIn(TelraamSource(load_fleet()).rows)
    ingest_factory("telraam/+/traffic")
    log = tmp_path / "poll.log"
    with serving(standin.app()) as url:
        metrics_port = free_port()
        env = poll_env(database_url, mqtt_url, telraam_url=url, telraam_interval_s="0.5",
                       telraam_daily_calls="10000000", telraam_backfill_days="1",
                       poll_metrics_port=str(metrics_port))
        proc = start_poll(["telraam", "--segments", SEGMENTS[0]], env, log)
        try:

            async def three_passes() -> bool:
                return log.read_text().count("telraam: pass:") >= 3

            await eventually(three_passes, 30, "three passes")
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)).text
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for m in text_string_to_metric_families(text) for s in m.samples}
            assert samples[("citysense_poll_calls_total", (("outcome", "200"), ("poller", "telraam")))] == len(
                standin.calls)
            rows = sum(len(TelraamSource(load_fleet()).rows(seg, a, b, b)) for seg, a, b in standin.calls)
            assert samples[("citysense_poll_records_total", (("poller", "telraam"),))] == rows
            assert samples[("citysense_poll_last_success_timestamp_seconds", (("poller", "telraam"),))] > 0
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0


async def test_nothing_counts_as_sent_while_no_ingest_is_subscribed(
    db: asyncpg.Connection, database_url: str, tmp_path: Path, unique: str,
) -> None:
    # A broker of its own: no session of another test may be subscribed to telraam/+/traffic.
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    source = TelraamSource(load_fleet())
    standin = TelraamStandIn(source.rows)
    since = _hour(datetime.now(UTC)) - timedelta(hours=6)
    args = ["telraam", "--once", "--segments", SEGMENTS[0], "--since", since.isoformat()]
    ingest = IngestProcess(database_url=database_url, mqtt_url=broker.url, client_id=f"nosub-{unique}",
                           topics="telraam/+/traffic", log_path=tmp_path / "ingest.log",
                           extra_env={"CITYSENSE_INGEST_SESSION_EXPIRY_S": "0"})
    try:
        with serving(standin.app()) as url:
            env = poll_env(database_url, broker.url, telraam_url=url, telraam_daily_calls="10000000")
            lonely = poll(args, env, tmp_path / "poll.log")
            assert lonely.returncode == 1
            assert "no subscriber for telraam/" in lonely.stderr + lonely.stdout
            ingest.start()
            done = poll(args, env, tmp_path / "poll.log")
            assert done.returncode == 0, done.stderr
        # The second run asked from `since` again: the first one's hours were not taken as sent.
        assert standin.calls[0][1] == standin.calls[-1][1] == since
        end = standin.calls[-1][2]
        expected = _expected(SEGMENTS[0], source.rows(SEGMENTS[0], since, end, end))

        async def all_stored() -> bool:
            return len(await _stored(db)) >= len(expected)

        await eventually(all_stored, 30, "every hour stored")
        assert await _stored(db) == expected
    finally:
        ingest.kill()
        broker.stop()
