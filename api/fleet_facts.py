"""The facts of every sensor's series, in the API's memory, so a health request is computation.

Loaded from the database at start and every CITYSENSE_API_HEALTH_REFRESH_S (new sensors,
registry edits, the cadence learned from the rollups, anything the QoS 0 live bus lost), and
advanced between loads by every committed reading the live bus brings (api/live/bus.py). Each
API replica keeps its own copy from the same database and the same bus, so replicas agree.
Without the live bus (switched off, or not subscribed right now) the copy would fall behind
the readings, so the answer loads the facts afresh per request instead (slow but right).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from api.analysis.health import (
    ClockFacts,
    Health,
    RejectFacts,
    SensorFacts,
    SeriesFacts,
    Thresholds,
    assess,
    calm_for_s,
    expected_interval_s,
    reassess,
)
from api.analysis.series_tally import SeriesTally
from api.queries.health import series_facts
from api.sensor_cache import RegistryCache

log = logging.getLogger("citysense.api.health")

# The hours of rollups the cadence and the repeated values are learned from: enough for an
# hourly sensor to show a few gaps, few enough to load fast for thousands of sensors.
LEARNING_WINDOW = timedelta(hours=6)
# Sensors stored between two yields to the event loop while a load is stored: a few milliseconds.
STORE_SLICE = 250


@dataclass(frozen=True, slots=True)
class Registration:
    kind: str
    district: str | None
    private: bool
    registered: datetime


class _Sensor:
    __slots__ = ("_calm", "_facts", "last_seen", "registration", "series")

    def __init__(self, registration: Registration, last_seen: datetime | None) -> None:
        self.registration = registration
        self.last_seen = last_seen
        self.series: dict[str, SeriesTally] = {}
        self._facts: SensorFacts | None = None
        # (thresholds, the judgement at the last reading, until when it holds)
        self._calm: tuple[Thresholds, Health, datetime] | None = None

    def facts(self, sensor_id: str) -> SensorFacts:
        if self._facts is None:
            self._facts = SensorFacts(sensor_id, self.last_seen, self.registration.registered,
                                      tuple(s.facts() for s in self.series.values()))
        return self._facts

    def health(self, sensor_id: str, now: datetime, t: Thresholds) -> Health:
        """Judged at `now`. Until it falls late, a sensor's judgement does not depend on the clock,
        so it is judged once per change (at its last reading) and reused until then: a request
        over thousands of sensors compares times instead of judging each again."""
        calm = self._calm
        if calm is not None and calm[0] is t and now <= calm[2]:
            return calm[1]
        facts = self.facts(sensor_id)
        if self.last_seen is None:
            return assess(facts, now, t)
        if calm is None or calm[0] is not t:
            # Whole microseconds down: within it, (now - last_seen) never exceeds the calm.
            calm_us = math.floor(calm_for_s(expected_interval_s(facts.series), t) * 1e6)
            calm = self._calm = (t, assess(facts, self.last_seen, t),
                                 self.last_seen + timedelta(microseconds=calm_us))
            if now <= calm[2]:
                return calm[1]
        # Late or silent: only the silence problem is judged again.
        return reassess(calm[1], facts, now, t)

    def touched(self) -> None:
        self._facts = None
        self._calm = None


def _loaded_series(row: asyncpg.Record) -> list[SeriesFacts]:
    if row["metrics"] is None:
        return []
    return [SeriesFacts(m, t, v, n, since, gap)
            for m, t, v, n, since, gap in zip(row["metrics"], row["last_times"], row["last_values"], row["runs"],
                                              row["run_sinces"], row["gaps"], strict=True)]


class FleetFacts:
    def __init__(self, pool: asyncpg.Pool, registry: RegistryCache, refresh_s: float, thresholds: Thresholds) -> None:
        self.thresholds = thresholds  # one object for the process: the judgements kept are judged by it
        self._pool = pool
        self._registry = registry
        self._refresh_s = refresh_s
        self._sensors: dict[str, _Sensor] = {}
        self._order: list[tuple[str, _Sensor]] | None = None  # _sensors by id, kept until one comes or goes
        self._loading: asyncio.Task[None] | None = None
        self._edits = 0  # registry edits so far in this process (forget)
        self._forgotten: dict[str, int] = {}  # sensor -> the edit that forgot it
        self.loaded_at = float("-inf")  # time.monotonic() of the last finished load
        # (sensors, newest created_at) of the registry the last load read (queries.health.registry_mark)
        self.registry_mark: tuple[int, datetime | None] = (0, None)

    def __len__(self) -> int:
        return len(self._sensors)

    @property
    def loaded(self) -> bool:
        return self.loaded_at > float("-inf")

    async def _store(self, rows: Sequence[asyncpg.Record], edits: int) -> None:
        """`edits`: the registry edits made before the rows were read; a sensor forgotten by a
        later one is left out (the rows hold it as it was before that edit)."""
        fresh: dict[str, _Sensor] = {}
        for i, row in enumerate(rows):
            if i % STORE_SLICE == STORE_SLICE - 1:
                await asyncio.sleep(0)  # let requests and the bus in between slices
            if self._forgotten.get(row["id"], -1) > edits:
                continue
            reg = Registration(row["kind"], row["district"], row["private"], row["created_at"])
            sensor = self._sensors.get(row["id"])
            if sensor is None:
                sensor = _Sensor(reg, row["last_seen"])
            else:
                sensor.registration = reg
                if row["last_seen"] is not None and (sensor.last_seen is None or row["last_seen"] > sensor.last_seen):
                    sensor.last_seen = row["last_seen"]
            for loaded in _loaded_series(row):
                tally = sensor.series.get(loaded.metric)
                if tally is None:
                    sensor.series[loaded.metric] = SeriesTally(loaded)
                else:
                    tally.load(loaded)
            sensor.touched()
            fresh[row["id"]] = sensor
        # Sensors deleted from the registry go; a series older than the window stays (its last
        # value is still its last value).
        self._sensors = fresh
        self._forgotten = {k: v for k, v in self._forgotten.items() if v > edits}
        self._order = None

    async def _load(self) -> None:
        started, edits = time.monotonic(), self._edits
        async with self._pool.acquire() as conn:
            rows = await series_facts(conn, datetime.now(UTC) - LEARNING_WINDOW)
        await self._store(rows, edits)
        self.registry_mark = (len(rows), max((r["created_at"] for r in rows), default=None))
        self.loaded_at = time.monotonic()
        log.debug("loaded the facts of %d sensors in %.0f ms", len(rows), 1000 * (self.loaded_at - started))

    def load_soon(self, fresh: bool = False) -> asyncio.Task[None]:
        """Start a load unless one runs; callers arriving while a load runs share it, unless they
        need a `fresh` one (read after now): that one follows the running one."""
        running = self._loading
        if running is not None and not running.done() and not fresh:
            return running
        if running is None or running.done():
            task = asyncio.create_task(self._load(), name="health-facts-load")
        else:
            async def after(previous: asyncio.Task[None]) -> None:
                with contextlib.suppress(Exception):
                    await previous
                await self._load()
            task = asyncio.create_task(after(running), name="health-facts-load")
        self._loading = task
        return task

    async def load(self) -> None:
        await asyncio.shield(self.load_soon())

    def add(self, readings: Sequence[tuple[int, str, str, float]]) -> None:
        """Committed readings from the live bus: (epoch ms, sensor id, metric, value)."""
        for ms, sensor_id, metric, value in sorted(readings):
            at = datetime.fromtimestamp(ms / 1000, UTC)
            sensor = self._sensors.get(sensor_id)
            if sensor is None:
                # Registered by ingest in the transaction that stored the reading (the live bus
                # follower has looked it up in the registry cache); the next load brings its row.
                info = self._registry.get(sensor_id)
                sensor = self._sensors[sensor_id] = _Sensor(
                    Registration(info.kind, info.district, info.private, at), None)
                self._order = None
            tally = sensor.series.get(metric)
            if tally is None:
                sensor.series[metric] = SeriesTally.first(metric, at, value)
            elif not tally.add(at, value):
                continue
            if sensor.last_seen is None or at > sensor.last_seen:
                sensor.last_seen = at
            sensor.touched()

    def forget(self, sensor_ids: Iterable[str]) -> None:
        """Registry edits in this process (created, replaced, changed, deleted): the sensors leave
        the answers at once (so a sensor made private is never shown a moment longer) and come
        back, as edited, with the load this starts. Other replicas see it at their next load."""
        self._edits += 1
        for sensor_id in sensor_ids:
            self._forgotten[sensor_id] = self._edits
            if self._sensors.pop(sensor_id, None) is not None:
                self._order = None
        self.load_soon(fresh=True)

    def health(self, now: datetime, kind: str | None, district: str | None, include_private: bool,
               recent: Mapping[str, tuple[tuple[RejectFacts, ...], ClockFacts | None]]) -> list[Health]:
        """The sensors the filters keep, in id order, judged at `now`; `recent`: the dead letters
        and clock rows of the sensors that have some (read per request)."""
        t = self.thresholds
        if self._order is None:
            self._order = sorted(self._sensors.items())
        everyone = kind is None and district is None and include_private
        out: list[Health] = []
        for sensor_id, s in self._order:
            if not everyone:
                r = s.registration
                if not ((kind is None or r.kind == kind) and (district is None or r.district == district) and (
                        include_private or not r.private)):
                    continue
            extra = recent.get(sensor_id) if recent else None
            if extra is None:
                out.append(s.health(sensor_id, now, t))
            else:
                out.append(assess(dataclasses.replace(s.facts(sensor_id), rejects=extra[0], clock=extra[1]), now, t))
        return out

    async def run(self) -> None:
        """Load at start and every refresh period, until cancelled."""
        while True:
            try:
                await self.load()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("could not load the fleet's health facts (%s); keeping the last copy", exc)
            except Exception:  # a bug must not stop the refreshes for the process's lifetime
                log.exception("loading the fleet's health facts failed; keeping the last copy")
            await asyncio.sleep(self._refresh_s)
