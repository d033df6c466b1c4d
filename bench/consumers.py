"""The bench's own consumers, each run in a process of its own: the receive ceiling and the naive baseline.

Both drain a backlog queued for their persistent session (see harness.py) and report when the
last expected message was handled, so publisher speed does not enter their figures.

* Receive ceiling: a bare paho-mqtt 2 client, MQTT v5, manual_ack=True, the Receive Maximum of
  ingest; per message it parses (orjson, or the decoder registry ingest uses) and acknowledges.
  Nothing is stored: this is the most a Python paho consumer can take on this machine.
* The same ceiling with other clients (`citysense bench --stages clients`), same session, same
  Receive Maximum, each message acknowledged only after it was parsed:
  - paho with buffered reads: paho reads a packet with at least three recv() calls (1 byte of
    type, 1 per remaining-length byte, then the rest) after a select(); here its socket is
    wrapped so one recv() of 256 KiB serves many packets (paho itself unchanged);
  - paho batched: the same socket, no paho thread: the bench's loop calls paho's external-loop
    API (loop_read per packet while the read buffer holds data, then loop_write) and the PUBACKs
    queued during that burst leave in one send() instead of one send() (and one wake-up byte
    through paho's socketpair) per message;
  - gmqtt (asyncio), optimistic_acknowledgement=False: on_message is a coroutine and gmqtt
    sends the PUBACK when it returns (it has no ack-by-packet-id call); optionally on uvloop.
* Naive baseline: what most glue scripts do: paho with automatic acks, and per message one
  INSERT of that message's rows, autocommitted, from the on_message callback. The rows are the
  ones ingest would write (ingest.prepare on the single message), so the database can be checked
  the same way; unlike ingest it keeps no hourly rollups and no sensor registry.
"""

from __future__ import annotations

import asyncio
import resource
import select
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.broker import client, connect_props
from citysense.endpoints import MqttEndpoint
from ingest.mqtt_socket import BufferedClient, BufferedSocket


@dataclass(frozen=True, slots=True)
class ConsumerJob:
    kind: str  # "json" | "decoders" | "naive" | "paho-buffered" | "paho-batched" | "gmqtt" | "gmqtt-uvloop"
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    client_id: str
    subscriptions: tuple[str, ...]
    receive_maximum: int
    session_expiry_s: int
    expected: int  # messages to wait for
    stall_s: float  # give up after this long without a message
    timezone: str = "Europe/Brussels"
    database_url: str = ""  # naive only
    bin_depths: tuple[tuple[str, float], ...] = ()  # naive only


@dataclass(frozen=True, slots=True)
class ConsumerResult:
    received: int
    connected_at: float  # wall clock of CONNACK (the queued messages flow from then on)
    done_at: float  # wall clock when the last expected message was handled (0: never)
    cpu_s: float  # process CPU between the two
    parse_errors: int
    rows: int  # naive: rows inserted
    error: str = ""
    redelivered: int = 0  # deliveries flagged DUP (the broker sends a message again only after a reconnect)
    connections: int = 1  # CONNACKs received (more than one: the client reconnected during the run)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received = 0
        self.parse_errors = 0
        self.rows = 0
        self.connected_at = 0.0
        self.done_at = 0.0
        self.cpu0 = 0.0
        self.cpu1 = 0.0
        self.last = time.time()
        self.done = threading.Event()
        self.error = ""
        self.redelivered = 0
        self.connections = 0

    def stalled(self, stall_s: float) -> bool:
        """True (and the error set) once no message came for `stall_s` seconds."""
        if time.time() - max(self.last, self.connected_at) <= stall_s:
            return False
        self.error = f"stalled: {self.received} of {self.expected} messages after {stall_s:.0f} s"
        return True

    def result(self) -> ConsumerResult:
        return ConsumerResult(self.received, self.connected_at, self.done_at, max(0.0, self.cpu1 - self.cpu0),
                              self.parse_errors, self.rows, self.error, self.redelivered, self.connections)

    def handled(self) -> None:
        self.received += 1
        if self.received == self.expected:
            self.done_at = time.time()
            self.cpu1 = _cpu()
            self.done.set()


def _on_connect_factory(counter: _Counter, job: ConsumerJob) -> Any:
    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            counter.error = f"connection refused: {reason}"
            counter.done.set()
            return
        counter.connections += 1
        if counter.connections == 1:
            counter.connected_at = time.time()
            counter.cpu0 = _cpu()
        c.subscribe([(s, SubscribeOptions(qos=1)) for s in job.subscriptions])

    return on_connect


def _parse_json(payload: bytes) -> bool:
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False  # DSMR telegrams are text, not JSON: received, not parsed
    return True


def _run(job: ConsumerJob, c: mqtt.Client, counter: _Counter) -> ConsumerResult:
    c.on_connect = _on_connect_factory(counter, job)
    ep = MqttEndpoint(job.host, job.port, job.tls, job.username, job.password)
    c.connect(ep.host, ep.port, keepalive=60, clean_start=False,
              properties=connect_props(job.session_expiry_s, job.receive_maximum))
    c.loop_start()
    try:
        while not counter.done.wait(0.5):
            if counter.stalled(job.stall_s):
                break
    finally:
        c.disconnect()
        c.loop_stop()
    return counter.result()


def _ceiling(job: ConsumerJob) -> ConsumerResult:
    counter = _Counter(job.expected)
    c = client(MqttEndpoint(job.host, job.port, job.tls, job.username, job.password), job.client_id,
               manual_ack=True)
    if job.kind == "decoders":
        from ingest.decoders.base import DecodeContext
        from ingest.decoders.registry import decode
        from ingest.errors import Rejected

        tz = ZoneInfo(job.timezone)

        def parse(topic: str, payload: bytes) -> bool:
            try:
                decode(topic, payload, DecodeContext(tz=tz, received_at=datetime.now(UTC)))
            except Rejected:
                return False
            return True
    else:
        def parse(topic: str, payload: bytes) -> bool:
            return _parse_json(payload)

    def on_message(cl: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        counter.redelivered += msg.dup
        if not parse(msg.topic, bytes(msg.payload)):
            counter.parse_errors += 1
        cl.ack(msg.mid, msg.qos)
        counter.last = time.time()
        counter.handled()

    c.on_message = on_message
    return _run(job, c, counter)


def _buffered_client(job: ConsumerJob, counter: _Counter, cork: bool) -> BufferedClient:
    c = BufferedClient(callback_api_version=CallbackAPIVersion.VERSION2, client_id=job.client_id,
                            protocol=mqtt.MQTTv5, manual_ack=True)
    c.cork = cork
    if job.username:
        c.username_pw_set(job.username, job.password)
    if job.tls:
        import ssl

        c.tls_set_context(ssl.create_default_context())

    def on_message(cl: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        counter.redelivered += msg.dup
        if not _parse_json(bytes(msg.payload)):
            counter.parse_errors += 1
        cl.ack(msg.mid, msg.qos)
        counter.last = time.time()
        counter.handled()

    c.on_message = on_message
    return c


def _paho_buffered(job: ConsumerJob) -> ConsumerResult:
    counter = _Counter(job.expected)
    return _run(job, _buffered_client(job, counter, cork=False), counter)


def _paho_batched(job: ConsumerJob) -> ConsumerResult:
    """paho without its thread: our loop drives paho's external-loop API (loop_read, loop_write,
    loop_misc). One select() and one recv() per burst of packets (up to 1,000 read from the buffer),
    then the burst's PUBACKs, queued by ack() in on_message, leave in one send()."""
    counter = _Counter(job.expected)
    c = _buffered_client(job, counter, cork=True)
    c.on_connect = _on_connect_factory(counter, job)
    c.connect(job.host, job.port, keepalive=60, clean_start=False,
              properties=connect_props(job.session_expiry_s, job.receive_maximum))
    sock = c.socket()
    assert isinstance(sock, BufferedSocket)
    try:
        while not counter.done.is_set():
            readable = sock.pending() > 0
            if not readable:
                want_write = [sock] if sock.unsent() or c.want_write() else []
                readable = bool(select.select([sock], want_write, [], 0.5)[0])
            if readable:
                for _ in range(1000):
                    if c.loop_read() != mqtt.MQTT_ERR_SUCCESS or sock.pending() == 0:
                        break
            c.loop_write()
            sock.flush()
            if c.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                counter.error = "connection lost"
                break
            if counter.stalled(job.stall_s):
                break
    finally:
        c.loop_write()
        sock.uncork()
        c.disconnect()
    return counter.result()


async def _gmqtt_drain(job: ConsumerJob, counter: _Counter) -> None:
    import gmqtt  # type: ignore[import-untyped]

    c = gmqtt.Client(job.client_id, clean_session=False, optimistic_acknowledgement=False,
                     session_expiry_interval=job.session_expiry_s, receive_maximum=job.receive_maximum)
    if job.username:
        c.set_auth_credentials(job.username, job.password)
    c.reconnect_retries = 0  # still one reconnect (gmqtt allows failures <= retries): `connections` reports it

    def on_connect(cl: Any, _flags: int, rc: int, _props: Any) -> None:
        counter.connections += 1
        if counter.connections == 1:
            counter.connected_at = time.time()
            counter.cpu0 = _cpu()
        cl.subscribe([gmqtt.Subscription(s, qos=1) for s in job.subscriptions])

    async def on_message(_cl: Any, _topic: str, payload: bytes, _qos: int, props: Any) -> int:
        counter.redelivered += props["dup"]
        if not _parse_json(payload):
            counter.parse_errors += 1
        counter.last = time.time()
        counter.handled()
        return 0  # the PUBACK's reason code: gmqtt sends it when this coroutine has returned

    c.on_connect = on_connect
    c.on_message = on_message
    await c.connect(job.host, job.port, ssl=job.tls, keepalive=60)
    try:
        while not counter.done.is_set():
            await asyncio.sleep(0.2)
            if counter.stalled(job.stall_s):
                break
    finally:
        for _ in range(3):  # let the last PUBACKs (done-callbacks of the last coroutines) go out first
            await asyncio.sleep(0)
        await c.disconnect()


def _gmqtt(job: ConsumerJob) -> ConsumerResult:
    counter = _Counter(job.expected)
    if job.kind == "gmqtt-uvloop":
        import uvloop

        uvloop.run(_gmqtt_drain(job, counter))
    else:
        asyncio.run(_gmqtt_drain(job, counter))
    return counter.result()


def _insert_sql(rows: int) -> str:
    values = ", ".join(f"(${3 * i + 1}, ${3 * i + 2}, ${3 * i + 3})" for i in range(rows))
    return f"INSERT INTO series_readings (time, series_id, value) VALUES {values} ON CONFLICT DO NOTHING"


def _naive(job: ConsumerJob) -> ConsumerResult:
    import asyncpg

    from ingest.prepare import Inbound, PrepareConfig, prepare
    from ingest.series_ids import SeriesIds

    counter = _Counter(job.expected)
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(asyncpg.connect(job.database_url))
    cfg = PrepareConfig(tz=ZoneInfo(job.timezone), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))
    depths = dict(job.bin_depths)
    sql: dict[int, str] = {}
    series = SeriesIds()
    c = client(MqttEndpoint(job.host, job.port, job.tls, job.username, job.password), job.client_id)

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        batch = prepare([Inbound(msg.topic, bytes(msg.payload), datetime.now(UTC))], cfg, (), depths)
        n = len(batch)
        if n:
            loop.run_until_complete(series.resolve(conn, zip(batch.sensor_ids, batch.metrics, strict=True)))
            args: list[Any] = []
            for row in zip(batch.times, series.ids(batch.sensor_ids, batch.metrics), batch.values, strict=True):
                args.extend(row)
            statement = sql.get(n) or sql.setdefault(n, _insert_sql(n))
            loop.run_until_complete(conn.execute(statement, *args))
            counter.rows += n
        else:
            counter.parse_errors += 1
        counter.last = time.time()
        counter.handled()  # paho acknowledges when this callback returns

    c.on_message = on_message
    try:
        return _run(job, c, counter)
    finally:
        loop.run_until_complete(conn.close())
        loop.close()


def consume(job: ConsumerJob, results: Any) -> None:
    """Process entry point: drain the backlog, put a ConsumerResult on `results`."""
    try:
        if job.kind == "naive":
            result = _naive(job)
        elif job.kind == "paho-buffered":
            result = _paho_buffered(job)
        elif job.kind == "paho-batched":
            result = _paho_batched(job)
        elif job.kind.startswith("gmqtt"):
            result = _gmqtt(job)
        else:
            result = _ceiling(job)
    except Exception as exc:  # reported to the parent, which shows it in the report
        result = ConsumerResult(0, 0.0, 0.0, 0.0, 0, 0, f"{type(exc).__name__}: {exc}")
    results.put(result)
