"""The fan-out of live readings to clients, each with its own bounded queue.

Publishing never waits for a client: a reading that does not fit a client's queue is
dropped for that client only and counted, and the client is told how many it missed
(a `lagged` event) at the point in its stream where they went missing. Asyncio only:
no FastAPI here, so the semantics have plain unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from models.metrics import METRICS


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
    type: str  # latest | reading | lagged
    data: bytes  # the JSON body, encoded once and shared by every client it goes to


def reading_event(kind: str, time_ms: int, sensor_id: str, metric: str, value: float) -> Event:
    unit = METRICS[metric].unit if metric in METRICS else None
    time = datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    body = {"type": kind, "sensor_id": sensor_id, "metric": metric, "value": value, "unit": unit, "time": time}
    return Event(kind, orjson.dumps(body))


def lagged_event(missed: int) -> Event:
    return Event("lagged", orjson.dumps({"type": "lagged", "missed": missed}))


@dataclass(eq=False)
class Subscription:
    filter: LiveFilter
    maxsize: int
    missed: int = 0  # dropped since the client was last told
    queue: asyncio.Queue[Event] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.maxsize)

    def offer(self, event: Event) -> None:
        q = self.queue
        if self.missed:
            # The notice goes where the gap is: after what was queued before it, before what follows.
            if q.full():
                self.missed += 1
                return
            q.put_nowait(lagged_event(self.missed))
            self.missed = 0
        if q.full():
            self.missed += 1
        else:
            q.put_nowait(event)

    async def next(self) -> Event:
        # A gap at the end of the queue is reported as soon as the client drained what came before
        # it, without waiting for another reading to carry the notice.
        if self.missed and self.queue.empty():
            missed, self.missed = self.missed, 0
            return lagged_event(missed)
        return await self.queue.get()


class Hub:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._subs: set[Subscription] = set()
        self.published = 0

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, flt: LiveFilter) -> Subscription:
        sub = Subscription(flt, self.queue_size)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(
        self, readings: Iterable[tuple[int, str, str, float]], info: Callable[[str], SeriesInfo]
    ) -> None:
        """Hand each reading to every client whose filter it matches. Synchronous on purpose:
        nothing here can wait for a client."""
        if not self._subs:
            return
        subs = list(self._subs)
        for time_ms, sensor_id, metric, value in readings:
            meta = info(sensor_id)
            event: Event | None = None
            for sub in subs:
                if sub.filter.matches(sensor_id, metric, meta):
                    event = event or reading_event("reading", time_ms, sensor_id, metric, value)
                    sub.offer(event)
            self.published += 1
