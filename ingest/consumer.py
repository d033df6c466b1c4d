"""`citysense ingest`: MQTT → TimescaleDB, at least once, each reading stored once.

A collector and `ingest_writers` writers with a queue between them: the collector cuts
batches from the MQTT inbox and decodes them while the writers commit earlier batches,
each in its own transaction. A batch's messages are acknowledged only after it
committed and after every earlier batch was acknowledged (MQTT wants PUBACKs in
arrival order), so batches may commit out of order but are acknowledged in order.
Memory stays bounded: the session holds at most Receive Maximum messages between
their arrival and their acknowledgement (see mqtt_session), and nothing is
acknowledged before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import start_http_server

from citysense import live_bus, logs
from citysense.backoff import backoff
from citysense.settings import Settings, load_settings
from ingest import telemetry
from ingest.attribution import sensor_of_topic
from ingest.batch_summary import BatchSummary
from ingest.batching import BatchPolicy
from ingest.daily_fold import fold_daily
from ingest.decoders.registry import default_subscriptions
from ingest.mqtt_session import Delivery, MqttSession, Session, SessionConfig
from ingest.prepare import Inbound, PreparedBatch, Reject, prepare, prepare_config
from ingest.retention import enforce_retention
from ingest.writer import Writer
from models.migrate import SchemaOutdated, require_current

log = logging.getLogger("citysense.ingest")

# Errors after which the same write may succeed later: the database is away or busy.
_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    # A connection cut in the middle of an operation (server shutting down) can leave
    # asyncpg's protocol state behind: "cannot switch to state 15; another operation is
    # in progress". Not an InterfaceError, but the same outage; a fresh connection cures it.
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
)
_DRAIN_TIMEOUT_S = 30.0
_REGISTRY_REFRESH_S = 60.0


def session_config(settings: Settings) -> SessionConfig:
    topics = tuple(t.strip() for t in settings.ingest_topics.split(",") if t.strip())
    return SessionConfig(
        endpoint=settings.mqtt,
        client_id=settings.ingest_client_id,
        filters=topics or default_subscriptions(),
        share_group=settings.ingest_share_group,
        session_expiry_s=settings.ingest_session_expiry_s,
        keepalive_s=settings.ingest_keepalive_s,
        receive_maximum=settings.ingest_receive_maximum,
    )


def open_session(settings: Settings, on_arrival: Callable[[], None]) -> Session:
    return MqttSession(session_config(settings), on_arrival)


@dataclass
class _Registry:
    """What prepare needs from the sensor registry, refreshed now and then."""

    known: set[str] = field(default_factory=set)
    depths: dict[str, float] = field(default_factory=dict)
    loaded_at: float = float("-inf")


class WriterGaveUp(Exception):
    """An earlier batch was not committed (stopping with the database away): later ones may not be
    acknowledged before it, so they are left to the broker as well."""


@dataclass
class _Job:
    taken: list[Delivery]
    batch: PreparedBatch
    after: asyncio.Future[None] | None  # the previous batch's acknowledgement
    acked: asyncio.Future[None]


class Ingest:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = BatchPolicy(settings.ingest_batch_max_messages, settings.ingest_batch_max_age_ms / 1000)
        self.prep = prepare_config(settings)
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        self._stop = asyncio.Event()
        self.session = open_session(settings, self._wake)
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=settings.ingest_writers)
        self._registry = _Registry()
        self._live_topic = live_bus.bus_topic(settings.ingest_live_topic) if settings.ingest_live_topic else ""
        self.pool: asyncpg.Pool | None = None
        self._summary = BatchSummary(settings.ingest_log_summary_s, time.monotonic())

    def _wake(self) -> None:  # the MQTT session's network thread
        self._loop.call_soon_threadsafe(self._arrived.set)

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stopping: committing and acknowledging what is in memory")
            self.session.stop_taking()
            self._stop.set()
            self._arrived.set()

    async def _connect_db(self) -> asyncpg.Pool:
        delays = backoff()
        while True:
            try:
                # One connection per writer, one for the registry refresh, one for retention, one for
                # the daily fold.
                pool: asyncpg.Pool = await asyncpg.create_pool(
                    self.settings.database_url, min_size=1, max_size=self.settings.ingest_writers + 3,
                    command_timeout=60,
                )
                return pool
            except _TRANSIENT as exc:
                delay = next(delays)
                log.warning("database not reachable (%s); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    raise

    async def _refresh_registry(self, writer: Writer) -> None:
        if time.monotonic() - self._registry.loaded_at < _REGISTRY_REFRESH_S:
            return
        try:
            if self.prep.strict:
                self._registry.known = await writer.known_sensors()
            self._registry.depths = await writer.bin_depths()
            self._registry.loaded_at = time.monotonic()
        except _TRANSIENT as exc:
            log.warning("could not refresh the sensor registry (%s); using the last copy", exc)

    def _take(self) -> list[Delivery]:
        inbox = self.session.inbox
        n = min(len(inbox), self.policy.max_messages)
        taken = [inbox.popleft() for _ in range(n)]
        current = self.session.generation
        fresh = [d for d in taken if d.generation == current]
        if len(fresh) < len(taken):
            # Received on a connection that is gone: they can no longer be acknowledged and the
            # broker sends them again on this one. Writing them too would be wasted work, and for
            # payloads without their own time (stamped on receipt) a second row.
            self.session.release(len(taken) - len(fresh))
            log.info("dropped %d message(s) of a previous connection; the broker redelivers them",
                     len(taken) - len(fresh))
        return fresh

    async def _collect(self, writer: Writer) -> None:
        inbox = self.session.inbox
        previous: asyncio.Future[None] | None = None
        while True:
            if not inbox:
                if self._stop.is_set():
                    break
                self._arrived.clear()
                if not inbox:  # a message may have come between the check and the clear
                    await self._arrived.wait()
                    continue
            oldest = inbox[0].arrived
            # Polling, not an event: paho appends from its own thread, and waking the loop per
            # message would cost more than a 5 ms tick.
            while not self._stop.is_set() and not self.policy.due(len(inbox), oldest, time.monotonic()):  # noqa: ASYNC110
                await asyncio.sleep(min(0.005, self.policy.time_left(oldest, time.monotonic())))
            await self._refresh_registry(writer)
            taken = self._take()
            if not taken:
                continue
            batch = prepare(
                [Inbound(d.topic, d.payload, d.received_at) for d in taken],
                self.prep, self._registry.known, self._registry.depths,
            )
            job = _Job(taken, batch, previous, self._loop.create_future())
            previous = job.acked
            await self._queue.put(job)
        for _ in range(self.settings.ingest_writers):
            await self._queue.put(None)

    async def _write_with_retry(self, writer: Writer, batch: PreparedBatch) -> bool:
        """True once committed; False when stopping gave up on an unreachable database."""
        delays = backoff()
        give_up_at: float | None = None
        while True:
            try:
                result = await writer.write(batch)
            except _TRANSIENT as exc:
                telemetry.DB_RETRIES.inc()
                delay = next(delays)
                log.warning("database write failed (%s); batch kept unacknowledged, retrying in %.1f s", exc, delay,
                            extra={"batch_size": len(batch.values)})
                if self._stop.is_set():
                    give_up_at = give_up_at or time.monotonic() + _DRAIN_TIMEOUT_S
                    if time.monotonic() > give_up_at:
                        log.error("database still unreachable; exiting without acknowledging (the broker keeps them)")
                        return False
                await asyncio.sleep(delay)
                continue
            telemetry.READINGS.inc(result.inserted)
            telemetry.DUPLICATES.inc(result.duplicates)
            telemetry.REJECTED.inc(result.rejected)
            telemetry.BATCH_SECONDS.observe(result.seconds)
            log.debug(
                "batch committed: %d rows (%d duplicate), %d rejected message(s), in %.1f ms",
                result.inserted, result.duplicates, result.rejected, result.seconds * 1000,
                extra={"batch_size": len(batch.values), "rows": result.inserted, "duplicates": result.duplicates,
                       "rejected": result.rejected},
            )
            totals = self._summary.add(result.inserted, result.duplicates, result.rejected, time.monotonic())
            if totals is not None:
                log.info("committed in the last %.0f s: %d batches, %d rows (%d duplicate), %d rejected message(s)",
                         totals.seconds, totals.batches, totals.rows, totals.duplicates, totals.rejected,
                         extra={"batches": totals.batches, "rows": totals.rows, "duplicates": totals.duplicates,
                                "rejected": totals.rejected})
            return True

    async def _write_one_by_one(self, writer: Writer, taken: list[Delivery]) -> None:
        """A batch the database refuses for a reason other than availability (a value it cannot
        take): write its messages one at a time so one bad message cannot block the stream."""
        for d in taken:
            single = prepare([Inbound(d.topic, d.payload, d.received_at)], self.prep,
                             self._registry.known, self._registry.depths)
            try:
                await writer.write(single)
            except asyncpg.PostgresError as exc:
                if isinstance(exc, _TRANSIENT):
                    raise
                log.warning("message on %s refused by the database: %s", d.topic, exc, extra={"topic": d.topic})
                await writer.write(PreparedBatch(rejects=[Reject(d.received_at, d.topic, d.payload,
                                                                 f"DatabaseError: {exc}", sensor_of_topic(d.topic))]))

    async def _write(self, writer: Writer) -> None:
        while (job := await self._queue.get()) is not None:
            taken, batch = job.taken, job.batch
            telemetry.MESSAGES.inc(len(taken))
            try:
                committed = await self._write_with_retry(writer, batch)
            except asyncpg.PostgresError as exc:
                log.error("batch refused by the database (%s); writing its messages one by one", exc)
                await self._write_one_by_one(writer, taken)
                committed = True
            if job.after is not None:
                try:
                    await asyncio.shield(job.after)
                except WriterGaveUp:
                    committed = False
            if not committed:
                job.acked.set_exception(WriterGaveUp())
                job.acked.exception()  # retrieved: the next writer sees it, nobody else needs to
                return
            for reason in batch.rejects:
                log.warning("rejected message on %s: %s", reason[1], reason[3],
                            extra={"topic": reason[1], "reason": reason[3]})
            self.session.ack(taken)
            job.acked.set_result(None)
            if self._live_topic and len(batch):
                for body in live_bus.encode(batch):
                    self.session.publish(self._live_topic, body)

    async def run(self) -> None:
        self.pool = await self._connect_db()
        try:
            await require_current(self.pool)
        except BaseException:
            await self.pool.close()
            raise
        writer = Writer(self.pool)
        telemetry.QUEUE_DEPTH.set_function(lambda: self.session.held)
        telemetry.HELD_PEAK.set_function(lambda: self.session.peak_held)
        telemetry.ROOM_WAITS.set_function(lambda: self.session.waits)
        telemetry.CONNECTED.set_function(lambda: 1.0 if self.session.connected else 0.0)
        await self.session.open()
        tasks = [
            asyncio.create_task(self._collect(writer), name="collect"),
            *(asyncio.create_task(self._write(writer), name=f"write-{i}") for i in range(self.settings.ingest_writers)),
        ]
        retention = asyncio.create_task(enforce_retention(self.pool, self.settings, self._stop), name="retention")
        fold = asyncio.create_task(fold_daily(self.pool, self._stop), name="daily-fold")
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            for t in (*tasks, retention, fold):
                t.cancel()
            await asyncio.gather(*tasks, retention, fold, return_exceptions=True)
            telemetry.DROPPED_ACKS.inc(self.session.dropped_acks)
            await self.session.close()
            await self.pool.close()
            log.info("ingest stopped; held at most %d messages in memory (limit %d, waited for room %d times)",
                     self.session.peak_held, self.session.config.receive_maximum, self.session.waits)


async def _main(settings: Settings) -> None:
    ingest = Ingest(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ingest.request_stop)
    await ingest.run()


def main() -> int:
    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    if settings.ingest_metrics_port:
        start_http_server(settings.ingest_metrics_port, addr=settings.ingest_metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.ingest_metrics_host, settings.ingest_metrics_port)
    topics = ", ".join(session_config(settings).subscriptions())
    log.info("ingest starting: broker %r (MQTT client %s), topics %s", settings.mqtt, settings.ingest_mqtt_client,
             topics)
    try:
        asyncio.run(_main(settings))
    except SchemaOutdated as exc:
        log.error("ingest cannot start: %s", exc)
        return 2
    return 0


