"""The bench's own consumers, each run in a process of its own: the receive ceiling and the naive baseline.

Both drain a backlog queued for their persistent session (see stages.py) and report when the
last expected message was handled, so publisher speed does not enter their figures.

* Receive ceiling: a bare paho-mqtt 2 client, MQTT v5, manual_ack=True, the Receive Maximum of
  ingest; per message it parses (orjson, or the decoder registry ingest uses) and acknowledges.
  Nothing is stored: this is the most a Python paho consumer can take on this machine.
* Naive baseline: what most glue scripts do: paho with automatic acks, and per message one
  INSERT of that message's rows, autocommitted, from the on_message callback. The rows are the
  ones ingest would write (ingest.prepare on the single message), so the database can be checked
  the same way; unlike ingest it keeps no hourly rollups and no sensor registry.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from citysense.endpoints import MqttEndpoint
from ingest.bench.broker import client, connect_props


@dataclass(frozen=True, slots=True)
class ConsumerJob:
    kind: str  # "json" | "decoders" | "naive"
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
            if time.time() - max(counter.last, counter.connected_at) > job.stall_s:
                counter.error = f"stalled: {counter.received} of {job.expected} messages after {job.stall_s:.0f} s"
                break
    finally:
        c.disconnect()
        c.loop_stop()
    return ConsumerResult(counter.received, counter.connected_at, counter.done_at,
                          max(0.0, counter.cpu1 - counter.cpu0), counter.parse_errors, counter.rows, counter.error)


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
        if not parse(msg.topic, bytes(msg.payload)):
            counter.parse_errors += 1
        cl.ack(msg.mid, msg.qos)
        counter.last = time.time()
        counter.handled()

    c.on_message = on_message
    return _run(job, c, counter)


def _insert_sql(rows: int) -> str:
    values = ", ".join(f"(${4 * i + 1}, ${4 * i + 2}, ${4 * i + 3}, ${4 * i + 4})" for i in range(rows))
    return f"INSERT INTO readings (time, sensor_id, metric, value) VALUES {values} ON CONFLICT DO NOTHING"


def _naive(job: ConsumerJob) -> ConsumerResult:
    import asyncpg

    from ingest.prepare import Inbound, PrepareConfig, prepare

    counter = _Counter(job.expected)
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(asyncpg.connect(job.database_url))
    cfg = PrepareConfig(tz=ZoneInfo(job.timezone), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))
    depths = dict(job.bin_depths)
    sql: dict[int, str] = {}
    c = client(MqttEndpoint(job.host, job.port, job.tls, job.username, job.password), job.client_id)

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        batch = prepare([Inbound(msg.topic, bytes(msg.payload), datetime.now(UTC))], cfg, (), depths)
        n = len(batch)
        if n:
            args: list[Any] = []
            for row in zip(batch.times, batch.sensor_ids, batch.metrics, batch.values, strict=True):
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
        result = _naive(job) if job.kind == "naive" else _ceiling(job)
    except Exception as exc:  # reported to the parent, which shows it in the report
        result = ConsumerResult(0, 0.0, 0.0, 0.0, 0, 0, f"{type(exc).__name__}: {exc}")
    results.put(result)
