"""Publisher pacing (pure parts) and its summary; a broker that is not there is one clear error."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

import pytest

from citysense.endpoints import MqttEndpoint
from models.reading import Reading
from simulators.plan import Event
from simulators.publisher import BrokerUnreachable, Pace, RunSummary, _Run, publish

T0 = datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()


def test_real_time_waits_for_the_simulated_due_time() -> None:
    pace = Pace(T0, 1.0, None)
    assert pace.delay(T0 + 10, elapsed=4.0, wall_now_s=T0 + 1000) == pytest.approx(6.0)
    assert pace.delay(T0 + 10, elapsed=12.0, wall_now_s=T0 + 1000) == 0.0


def test_acceleration_divides_the_wait() -> None:
    pace = Pace(T0, 60.0, None)
    assert pace.delay(T0 + 3600, elapsed=30.0, wall_now_s=T0 + 10**6) == pytest.approx(30.0)


def test_simulated_time_never_runs_ahead_of_the_wall_clock() -> None:
    pace = Pace(T0, 60.0, None)
    # Simulated time would be due, but the wall clock is not there yet: wait for it.
    assert pace.delay(T0 + 600, elapsed=20.0, wall_now_s=T0 + 500) == pytest.approx(100.0)
    fast = Pace(T0, math.inf, None)
    assert fast.delay(T0 + 10**6, elapsed=0.0, wall_now_s=T0 + 2 * 10**6) == 0.0
    assert fast.delay(T0 + 10, elapsed=0.0, wall_now_s=T0) == pytest.approx(10.0)


def _event(fmt: str, faults: tuple[str, ...] = (), timed: bool = True) -> Event:
    when = datetime(2026, 11, 20, 8, tzinfo=UTC) if timed else None
    return Event(T0, 0, "t", b"x", (Reading("s", "power", 1.0, when),), "s", fmt, int(T0), faults)


def test_summary_lines_say_what_was_published_and_injected() -> None:
    s = RunSummary(sim_start=datetime(2026, 11, 20, 7, tzinfo=UTC))
    for e in (_event("tasmota"), _event("tasmota", ("duplicate",)), _event("dsmr", ("malformed",), timed=False)):
        s.add(e, keep=True)
    s.elapsed_s = 2.0
    lines = s.lines()
    assert lines[0] == ("simulate: done: 3 messages in 2.0 s (1.5 msg/s), simulated 2026-11-20T07:00:00Z -> "
                        "2026-11-20T08:00:00Z")
    assert lines[1] == "  messages per format: dsmr 1, tasmota 2"
    assert lines[2] == "  readings expected: 3 (1 stamped with the receive time)"
    assert lines[3] == "  faults injected: duplicates 1, malformed 1"
    assert len(s.events) == 3


async def test_unreachable_broker_raises_a_clear_error() -> None:
    with pytest.raises(BrokerUnreachable, match=r"cannot reach the MQTT broker MqttEndpoint\(mqtt://127.0.0.1:9\)"):
        await publish(iter([_event("tasmota")]), MqttEndpoint("127.0.0.1", 9, False), Pace(T0, math.inf, None),
                      client_id="citysense-test-unreachable")


async def test_rate_cap_spaces_messages_out() -> None:
    run = _Run(Pace(T0, math.inf, 200.0), asyncio.Event(), None, 60.0, False, lambda: T0 + 10**6)
    started = time.monotonic()
    for _ in range(41):
        assert await run.until_due(_event("tasmota"))
    assert time.monotonic() - started >= 0.19  # 41 messages at 200/s: 40 gaps of 5 ms


async def test_a_stop_request_ends_the_wait() -> None:
    stop = asyncio.Event()
    run = _Run(Pace(T0, 1.0, None), stop, None, 60.0, False, lambda: T0 + 10**6)
    far = Event(T0 + 3600, 0, "t", b"x", (), "s", "tasmota", int(T0))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await asyncio.wait_for(run.until_due(far), 2) is False
