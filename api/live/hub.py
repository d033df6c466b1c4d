"""The fan-out of live readings to clients, each with its own queue bounded in readings and bytes.

Memory is what a hostile or merely slow client can take from everybody, so:

* a reading is encoded once, as an `Event` shared by every client it goes to (its JSON and its SSE
  frame); a client's queue holds references, never copies;
* clients with the same filter form one group: the filter runs once per reading per group, and the
  group's matches of one bus message are handed to each member in one call;
* a queue is bounded twice, in readings and in bytes (every referenced event counts in full, as if
  nobody else held it), so a client costs at most its byte bound however large the readings are.

Publishing never waits for a client: a reading that does not fit a client's queue is dropped for
that client only and counted, and the client is told how many it missed (a `lagged` event) at the
point in its stream where they went missing. A client that stays behind for longer than the hub's
`max_lag_s` is closed with a reason (`closed` is set; its stream ends). Asyncio only: no FastAPI
here, so the semantics have plain unit tests.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from models.metrics import METRICS

# What one queued event costs beyond its JSON: the deque slot, the Event object and its SSE frame's
# header, rounded up. Counting it keeps a flood of tiny events inside the byte bound too.
EVENT_OVERHEAD_BYTES = 96


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What filtering needs to know about a reading's sensor (from the registry cache)."""

    kind: str
    district: str | None
    private: bool


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """Empty sets match everything."""

    kinds: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    sensors: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    include_private: bool = False

    def matches(self, sensor_id: str, metric: str, info: SeriesInfo) -> bool:
        return (
            (self.include_private or not info.private)
            and (not self.sensors or sensor_id in self.sensors)
            and (not self.metrics or metric in self.metrics)
            and (not self.kinds or info.kind in self.kinds)
            and (not self.districts or (info.district is not None and info.district in self.districts))
        )


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # latest | reading | lagged | snapshot_end | closed
    data: bytes  # the JSON body, encoded once and shared by every client it goes to
    sse: bytes  # the same as one Server-Sent Events frame

    @property
    def size(self) -> int:
        return len(self.data) + EVENT_OVERHEAD_BYTES


def event(kind: str, body: dict[str, object]) -> Event:
    data = orjson.dumps(body)
    return Event(kind, data, b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")


def reading_event(kind: str, time_ms: int, sensor_id: str, metric: str, value: float) -> Event:
    unit = METRICS[metric].unit if metric in METRICS else None
    time_ = datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    return event(kind, {"type": kind, "sensor_id": sensor_id, "metric": metric, "value": value, "unit": unit,
                        "time": time_})


def lagged_event(missed: int) -> Event:
    return event("lagged", {"type": "lagged", "missed": missed})


def closed_event(reason: str) -> Event:
    return event("closed", {"type": "closed", "reason": reason})


@dataclass(eq=False)
class Subscription:
    filter: LiveFilter
    max_items: int
    max_bytes: int
    max_lag_s: float = float("inf")
    clock: Callable[[], float] = time.monotonic
    missed: int = 0  # dropped since the client was last told
    behind_since: float | None = None  # when it first dropped a reading without catching up since
    closed: str | None = None  # why the hub gave up on this client; its stream ends
    queued_bytes: int = 0
    _items: deque[Event] = field(init=False, default_factory=deque)
    _ready: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __len__(self) -> int:
        return len(self._items)

    def _put(self, ev: Event) -> None:
        self._items.append(ev)
        self.queued_bytes += ev.size

    def _drop(self, n: int) -> None:
        self.missed += n
        now = self.clock()
        if self.behind_since is None:
            self.behind_since = now
        elif now - self.behind_since >= self.max_lag_s and self.closed is None:
            self.closed = f"too slow: behind for {self.max_lag_s:g} s, {self.missed} readings missed"
            self._ready.set()

    def _room(self) -> bool:
        return len(self._items) < self.max_items and self.queued_bytes < self.max_bytes

    def offer(self, ev: Event) -> int:
        return self.offer_many((ev,), ev.size)

    def offer_many(self, events: Sequence[Event], nbytes: int) -> int:
        """Queue what fits of `events` (in order; `nbytes` is the sum of their sizes) and drop the
        rest; returns how many were dropped."""
        if self.closed is not None:
            return 0
        n = len(events)
        if self.missed:
            # The notice goes where the gap is: after what was queued before it, before what follows.
            if not self._room():
                self._drop(n)
                return n
            self._put(lagged_event(self.missed))
            self.missed = 0
        fit = min(n, self.max_items - len(self._items))
        if fit == n and self.queued_bytes + nbytes <= self.max_bytes:
            self._items.extend(events)
            self.queued_bytes += nbytes
        else:
            fit = max(fit, 0)
            for i in range(fit):
                ev = events[i]
                if self.queued_bytes + ev.size > self.max_bytes:
                    fit = i
                    break
                self._put(ev)
            if fit < n:
                self._drop(n - fit)
        self._ready.set()
        return n - fit

    def _pop(self) -> Event:
        ev = self._items.popleft()
        self.queued_bytes -= ev.size
        return ev

    def _caught_up(self) -> None:
        if not self._items and not self.missed:
            self.behind_since = None

    async def _wait(self) -> None:
        while not self._items and not self.missed and self.closed is None:
            self._ready.clear()
            await self._ready.wait()

    def _tail_notice(self) -> Event | None:
        # A gap at the end of the queue is reported as soon as the client drained what came before
        # it, without waiting for another reading to carry the notice.
        if self.missed and not self._items:
            missed, self.missed = self.missed, 0
            return lagged_event(missed)
        return None

    async def next(self) -> Event:
        """The next event; a `closed` event once the hub gave up on this client."""
        await self._wait()
        if self._items:
            ev = self._pop()
            self._caught_up()
            return ev
        notice = self._tail_notice()
        if notice is not None:
            return notice
        return closed_event(self.closed or "closed")

    async def take(self) -> list[Event]:
        """Everything queued now (at least one event), so a client's writes can be batched; ends
        with a `closed` event once the hub gave up on this client."""
        await self._wait()
        out = list(self._items)
        self._items.clear()
        self.queued_bytes = 0
        notice = self._tail_notice()
        if notice is not None:
            out.append(notice)
        self._caught_up()
        if self.closed is not None:
            out.append(closed_event(self.closed))
        return out


class Hub:
    def __init__(self, queue_size: int, queue_bytes: int = 1 << 62, max_lag_s: float = float("inf"),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.max_lag_s = max_lag_s
        self.clock = clock
        self._groups: dict[LiveFilter, set[Subscription]] = {}
        self.published = 0
        self.dropped = 0  # readings dropped for slow clients, all clients together
        self.closed_slow = 0  # clients given up on because they stayed behind
        # clients dropped by the routes because their connection took nothing for too long
        self.closed_stalled = 0

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def subscribe(self, flt: LiveFilter) -> Subscription:
        sub = Subscription(flt, self.queue_size, self.queue_bytes, self.max_lag_s, self.clock)
        self._groups.setdefault(flt, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        group = self._groups.get(sub.filter)
        if group is not None:
            group.discard(sub)
            if not group:
                del self._groups[sub.filter]

    def publish(
        self, readings: Sequence[tuple[int, str, str, float]], info: Callable[[str], SeriesInfo]
    ) -> None:
        """Hand each reading to every client whose filter it matches. Synchronous on purpose:
        nothing here can wait for a client."""
        self.published += len(readings)
        if not self._groups:
            return
        metas = [info(sensor_id) for _, sensor_id, _, _ in readings]
        shared: list[Event | None] = [None] * len(readings)  # each reading encoded once, at its first match
        for flt, subs in list(self._groups.items()):
            chunk: list[Event] = []
            nbytes = 0
            for i, (time_ms, sensor_id, metric, value) in enumerate(readings):
                if flt.matches(sensor_id, metric, metas[i]):
                    ev = shared[i]
                    if ev is None:
                        ev = shared[i] = reading_event("reading", time_ms, sensor_id, metric, value)
                    chunk.append(ev)
                    nbytes += ev.size
            if not chunk:
                continue
            events = tuple(chunk)
            for sub in subs:
                was_closed = sub.closed
                self.dropped += sub.offer_many(events, nbytes)
                if sub.closed is not None and was_closed is None:
                    self.closed_slow += 1
