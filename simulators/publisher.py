"""`citysense simulate`: publish the fleet's traffic over MQTT (QoS 1) as the devices would (I/O), or
through another Sink (simulators.http_push: the API's HTTP push endpoints).

Simulated time runs at `speed` times the wall clock (60: a simulated hour per real
minute) from `start`, but never ahead of the wall clock: ingest rejects readings
more than 10 minutes in the future, so once simulated time catches up with real
time the run carries on in real time. Pick a start in the past for accelerated
runs (cli.default_start does, when --start is not given).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TextIO

import aiomqtt
import asyncpg

from citysense.endpoints import MqttEndpoint
from simulators.fleet import Fleet
from simulators.fleet_registration import register
from simulators.plan import Event, PlanStats

log = logging.getLogger("citysense.simulate")

_IN_FLIGHT = 200  # QoS 1 publishes awaiting their PUBACK at once
# aiomqtt warns whenever more than a handful of publishes await their PUBACK; we pipeline on purpose.
_mqtt_log = logging.getLogger("citysense.simulate.mqtt")
_mqtt_log.setLevel(logging.ERROR)
_CHUNK = 500  # events taken from the plan per step (computed off the event loop)


class BrokerUnreachable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Pace:
    start_s: float  # simulated epoch seconds at wall time zero
    speed: float  # simulated seconds per wall second; math.inf: as fast as possible
    rate: float | None  # messages per second at most

    def delay(self, due_s: float, elapsed: float, wall_now_s: float) -> float:
        """Wall seconds to wait until a message due at simulated time `due_s` may go out."""
        behind_sim = (due_s - self.start_s) / self.speed - elapsed if math.isfinite(self.speed) else 0.0
        return max(0.0, behind_sim, due_s - wall_now_s)  # never ahead of the wall clock


@dataclass
class RunSummary:
    published: int = 0
    per_format: Counter[str] = field(default_factory=Counter)
    readings: int = 0
    receive_stamped: int = 0  # readings whose payload carries no time
    faults: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    sim_start: datetime | None = None
    sim_reached: datetime | None = None
    events: list[Event] = field(default_factory=list)  # kept only when asked (tests)

    def add(self, event: Event, keep: bool) -> None:
        self.published += 1
        self.per_format[event.format] += 1
        self.readings += len(event.readings)
        if not event.timed:
            self.receive_stamped += len(event.readings)
        for tag in event.faults:
            self.faults["duplicates" if tag == "duplicate" else tag] += 1
        self.sim_reached = event.publish_time
        if keep:
            self.events.append(event)

    def lines(self) -> list[str]:
        rate = self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0
        span = ""
        if self.sim_start is not None and self.sim_reached is not None:
            span = f", simulated {_iso(self.sim_start)} -> {_iso(self.sim_reached)}"
        out = [f"simulate: done: {self.published} messages in {self.elapsed_s:.1f} s ({rate:.1f} msg/s){span}"]
        formats = ", ".join(f"{name} {n}" for name, n in sorted(self.per_format.items()))
        out.append(f"  messages per format: {formats or 'none'}")
        out.append(f"  readings expected: {self.readings} ({self.receive_stamped} stamped with the receive time)")
        faults = ", ".join(f"{name} {n}" for name, n in sorted(self.faults.items()) if n)
        out.append(f"  faults injected: {faults or 'none'}")
        return out


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mqtt_client(endpoint: MqttEndpoint, client_id: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        endpoint.host, endpoint.port, username=endpoint.username, password=endpoint.password,
        identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=_IN_FLIGHT,
        tls_context=ssl.create_default_context() if endpoint.tls else None, timeout=10, logger=_mqtt_log,
    )


class Sink(Protocol):
    """Where events go: `send` returns once the event is delivered (or raises, which ends the run)."""

    async def open(self) -> None: ...
    async def send(self, event: Event) -> None: ...
    async def close(self) -> None: ...


class MqttSink:
    """The devices' own way: each event on its topic at QoS 1, delivered at the PUBACK."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        self.endpoint = endpoint
        self.client = mqtt_client(endpoint, client_id)

    async def open(self) -> None:
        try:
            await self.client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise BrokerUnreachable(f"cannot reach the MQTT broker {self.endpoint!r}: {exc}") from None

    async def send(self, event: Event) -> None:
        await self.client.publish(event.topic, event.payload, qos=1, timeout=60)

    async def close(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError, asyncio.CancelledError):
            await self.client.__aexit__(None, None, None)


async def register_fleet(database_url: str, fleet: Fleet, out: TextIO | None) -> bool:
    """Upsert the fleet into `sensors` if the database answers; a warning, not an error, if not."""
    try:
        conn = await asyncpg.connect(database_url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _say(out, f"warning: database not reachable ({exc}); the fleet's sensors are not registered, so bins "
                  "get no fill_level until their depth_mm is in the sensors table")
        return False
    try:
        n = await register(conn, fleet)
    except asyncpg.PostgresError as exc:
        _say(out, f"warning: could not register the fleet's sensors ({exc}); bins get no fill_level")
        return False
    finally:
        await conn.close()
    _say(out, f"registered {n} sensors in the database (kind, district, position, privacy, model, metadata "
              "incl. bin depth_mm); a running ingest picks up new bin depths within a minute")
    return True


def _say(out: TextIO | None, line: str) -> None:
    if out is not None:
        print(line, file=out, flush=True)


class _Run:
    """One publishing run: pacing, progress lines and the summary."""

    def __init__(self, pace: Pace, stop: asyncio.Event, out: TextIO | None, progress_every: float,
                 keep_events: bool, wall_clock: Callable[[], float]) -> None:
        self.pace = pace
        self.stop = stop
        self.out = out
        self.progress_every = progress_every
        self.keep_events = keep_events
        self.wall_clock = wall_clock
        self.summary = RunSummary(sim_start=datetime.fromtimestamp(pace.start_s, UTC))
        self.t0 = time.monotonic()
        self.next_progress = self.t0 + progress_every
        self.last_count, self.last_at = 0, self.t0
        self.next_slot = self.t0

    def sim_now(self) -> float:
        """The simulated clock: start + elapsed x speed, held back to the wall clock."""
        if not math.isfinite(self.pace.speed):
            reached = self.summary.sim_reached
            return reached.timestamp() if reached else self.pace.start_s
        return min(self.pace.start_s + (time.monotonic() - self.t0) * self.pace.speed, self.wall_clock())

    def _wait_needed(self, due_s: float, now: float) -> float:
        wait = self.pace.delay(due_s, now - self.t0, self.wall_clock())
        if self.pace.rate is not None:
            wait = max(wait, self.next_slot - now)
        return wait

    def maybe_progress(self, now: float) -> None:
        if now < self.next_progress:
            return
        s = self.summary
        rate = (s.published - self.last_count) / max(now - self.last_at, 1e-9)
        sim = _iso(datetime.fromtimestamp(self.sim_now(), UTC))
        _say(self.out, f"simulate: simulated time {sim} | {s.published} msgs published | {rate:.1f} msg/s")
        self.last_count, self.last_at = s.published, now
        self.next_progress = now + self.progress_every

    async def until_due(self, event: Event) -> bool:
        """Sleep until the event may be published; False when asked to stop meanwhile."""
        while not self.stop.is_set():
            now = time.monotonic()
            self.maybe_progress(now)
            wait = self._wait_needed(event.publish_at, now)
            if wait <= 0:
                if self.pace.rate is not None:
                    self.next_slot = max(self.next_slot, now - 1.0) + 1.0 / self.pace.rate
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(wait, max(0.01, self.next_progress - now)))
        return False


async def publish(
    events: Iterator[Event],
    endpoint: MqttEndpoint,
    pace: Pace,
    *,
    client_id: str,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    progress_every: float = 5.0,
    keep_events: bool = False,
    stats: PlanStats | None = None,
    wall_clock: Callable[[], float] = time.time,
    sink: Sink | None = None,
) -> RunSummary:
    """Publish events in order, paced, at QoS 1 to `endpoint` (or through `sink`); returns what was published
    once every event is delivered."""
    run = _Run(pace, stop or asyncio.Event(), out, progress_every, keep_events, wall_clock)
    sink = sink or MqttSink(endpoint, client_id)
    await sink.open()
    inflight: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    def settled(task: asyncio.Task[None]) -> None:
        inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]

    try:
        while not run.stop.is_set():
            # The plan computes a simulated day at a time: off the event loop, so pacing stays smooth.
            chunk = await asyncio.to_thread(lambda: list(itertools.islice(events, _CHUNK)))
            if not chunk:
                break
            for event in chunk:
                if not await run.until_due(event):
                    break
                task = asyncio.create_task(sink.send(event))
                inflight.add(task)
                task.add_done_callback(settled)
                run.summary.add(event, keep_events)
                if len(inflight) >= _IN_FLIGHT:
                    await asyncio.wait(set(inflight), return_when=asyncio.FIRST_COMPLETED)
                if failures:
                    raise failures[0]
                run.maybe_progress(time.monotonic())
        if inflight:
            await asyncio.wait(set(inflight))
        if failures:
            raise failures[0]
    except aiomqtt.MqttError as exc:
        raise BrokerUnreachable(f"lost the MQTT broker {endpoint!r}: {exc}") from None
    finally:
        for task in inflight:
            task.cancel()
        await sink.close()
    summary = run.summary
    summary.elapsed_s = time.monotonic() - run.t0
    if stats is not None:
        # Sensor faults (dropouts, skew, resets) are known to the plan, not to the messages.
        for name in ("dropout", "clock-skew", "counter-reset"):
            if stats.faults.get(name):
                summary.faults[name] = stats.faults[name]
    return summary
