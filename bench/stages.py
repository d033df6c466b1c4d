"""`citysense bench`: the stages, run one after another on one machine (I/O; the arithmetic is report.py).

Every stage gets a fresh database (CREATE DATABASE, models.migrate.apply, the fleet registered)
on the configured PostgreSQL server and fresh MQTT sessions on a private Mosquitto, and
every stage uses the same pre-generated messages (messages.py), from the first one on.

Throughput is timed two ways:
* backlog drain: the consumer's persistent session is created, every message is published
  while the consumer is offline (the broker queues them), then the consumer starts; the
  clock runs from its CONNACK ("connected to" in ingest's log) to the commit of the last
  reading, so the publisher's speed does not enter;
* live: the consumer runs, everything is published as fast as the broker takes it; the
  clock runs from the first publish to the last commit.
A commit is seen on ingest's live bus (`<live topic>/readings`), which it publishes after
each commit; the database is then checked row by row (counts per sensor and metric).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib.util
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np

from bench import cpu, report, write_cost
from bench.broker import BusListener, Published, clear_session, publish
from bench.consumers import ConsumerJob, ConsumerResult, consume
from bench.fleet import bench_fleet
from bench.messages import MessageSet, load_or_generate
from bench.options import FULL, QUICK
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from devenv.mosquitto import PrivateBroker
from devenv.mosquitto import version as mosquitto_version

SESSION_EXPIRY_S = 3600
STALL_S = 60.0  # a stage fails when nothing was committed for this long
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # a server restarting, a connection cut


def _log(start: float) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"[bench {time.monotonic() - start:6.1f}s] {line}", file=sys.stderr, flush=True)

    return say


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _mqtt_url(ep: MqttEndpoint) -> str:
    auth = f"{ep.username}:{ep.password}@" if ep.username else ""
    return f"{'mqtts' if ep.tls else 'mqtt'}://{auth}{ep.host}:{ep.port}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    kib = report.status_kib(_read(f"/proc/{pid}/status"), field)
    return round(kib / 1024, 1) if kib is not None else None


def _cpu_s(pid: int) -> float:
    text = _read(f"/proc/{pid}/stat")
    return report.stat_cpu_ticks(text) / os.sysconf("SC_CLK_TCK") if text else 0.0


@dataclass
class Bench:
    settings: Settings
    args: Any
    say: Callable[[str], None]
    workdir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    endpoint: MqttEndpoint | None = None
    broker: PrivateBroker | None = None
    bus: BusListener | None = None
    messages: MessageSet | None = None
    databases: list[str] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    oversize_before: int = 0  # "oversize packet" lines in the broker log when the current stage began

    # -- sizes ---------------------------------------------------------------------------------
    def size(self, name: str) -> Any:
        given = getattr(self.args, name, None)
        return given if given is not None else (QUICK if self.args.quick else FULL)[name]

    def broker_pids(self) -> list[int]:
        """The private broker's pid: its CPU is the broker's; another Mosquitto's is background."""
        return [self.broker.pid] if self.broker is not None and self.broker.pid else []

    @property
    def live_base(self) -> str:
        return self.settings.ingest_live_topic or "citysense/live"

    @property
    def set(self) -> MessageSet:
        assert self.messages is not None
        return self.messages

    @property
    def ep(self) -> MqttEndpoint:
        assert self.endpoint is not None
        return self.endpoint

    # -- databases -----------------------------------------------------------------------------
    async def _create_db(self, stage: str) -> str:
        from models.migrate import apply
        from simulators.fleet_registration import register

        name = f"citysense_bench_{self.run_id}_{stage}"
        admin = await asyncpg.connect(self.settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a half-made earlier try
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        if name not in self.databases:
            self.databases.append(name)
        url = _with_database(self.settings.database_url, name)
        conn = await asyncpg.connect(url)
        try:
            await apply(conn, self.settings.model_copy(update={"database_url": url}))
            await register(conn, bench_fleet(int(self.set.meta["sensors"])))
        finally:
            await conn.close()
        return url

    def create_db(self, stage: str) -> str:
        deadline = time.monotonic() + 120
        while True:  # the server may be restarting (another test run, an operator): wait for it
            try:
                return asyncio.run(self._create_db(stage))
            except _DB_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                self.say(f"  database not available ({exc}); retrying")
                time.sleep(3)

    async def _drop_db(self, name: str) -> None:
        admin = await asyncpg.connect(self.settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    def drop_db(self, url: str) -> None:
        if self.args.keep:
            return
        name = urlsplit(url).path.lstrip("/")
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            asyncio.run(self._drop_db(name))
            self.databases.remove(name)

    def verify(self, url: str, n: int) -> dict[str, Any]:
        """The database holds exactly the rows the first n messages must yield: per (sensor, metric)."""
        pair, time_ms, _ = self.set.readings(n)
        counts = report.expected_counts(pair, time_ms, self.set.time_base_ms, len(self.set.pairs))
        expected = {self.set.pairs[i]: int(c) for i, c in enumerate(counts) if c}

        async def fetch() -> tuple[dict[tuple[str, str], int], int]:
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch("SELECT sensor_id, metric, count(*) AS n FROM readings GROUP BY 1, 2")
                rejected = await conn.fetchval("SELECT count(*) FROM rejected_messages")
            finally:
                await conn.close()
            return {(r["sensor_id"], r["metric"]): int(r["n"]) for r in rows}, int(rejected)

        for attempt in range(10):  # the server may be restarting (another test run, an operator)
            try:
                actual, rejected = asyncio.run(fetch())
                break
            except _DB_ERRORS:
                if attempt == 9:
                    raise
                time.sleep(3)
        result = report.compare_counts(expected, actual)
        result["rejected_messages"] = rejected
        result["ok"] = bool(result["ok"] and rejected == 0)
        return result

    # -- MQTT ----------------------------------------------------------------------------------
    def register(self, client_id: str, subscriptions: list[str]) -> None:
        from bench.broker import register_session

        register_session(self.ep, client_id, subscriptions, SESSION_EXPIRY_S)
        self.sessions.add(client_id)

    def forget(self, *client_ids: str) -> None:
        for c in client_ids:
            clear_session(self.ep, c)
            self.sessions.discard(c)

    def publish(self, n: int, tag: str, rate: float = 0.0, record_times: bool = False,
                on_start: Callable[[], None] | None = None) -> Published:
        return publish(self.set.dir, n, self.ep, self.args.publishers, f"{self.run_id}-{tag}", rate, record_times,
                       on_start)

    def subscriptions(self, share_group: str = "") -> list[str]:
        from ingest.consumer import session_config

        s = self.settings.model_copy(update={"ingest_share_group": share_group, "ingest_topics": ""})
        return session_config(s).subscriptions()

    # -- ingest processes ----------------------------------------------------------------------
    @contextlib.contextmanager
    def ingest(self, db_url: str, stage: str, replicas: int) -> Iterator[list[IngestProc]]:
        group = f"bench{self.run_id}" if replicas > 1 else ""
        procs = [IngestProc(self, db_url, f"bench-ingest-{self.run_id}-{stage}-{j}", group,
                            self.workdir / f"ingest-{stage}-{j}.log") for j in range(replicas)]
        try:
            yield procs
        finally:
            for p in procs:
                p.stop()
            self.forget(*(p.client_id for p in procs))


class IngestProc:
    """One `citysense ingest` process (the real command, in a process of its own)."""

    def __init__(self, bench: Bench, db_url: str, client_id: str, share_group: str, log_path: Path) -> None:
        self.bench = bench
        self.db_url = db_url
        self.client_id = client_id
        self.share_group = share_group
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_at_connect = 0.0

    def register(self) -> None:
        self.bench.register(self.client_id, self.bench.subscriptions(self.share_group))

    def start(self) -> None:
        s = self.bench.settings
        env = {
            **os.environ,
            "CITYSENSE_DATABASE_URL": self.db_url,
            "CITYSENSE_MQTT_URL": _mqtt_url(self.bench.ep),
            "CITYSENSE_INGEST_CLIENT_ID": self.client_id,
            "CITYSENSE_INGEST_SHARE_GROUP": self.share_group,
            "CITYSENSE_INGEST_TOPICS": "",
            "CITYSENSE_INGEST_SESSION_EXPIRY_S": str(SESSION_EXPIRY_S),
            "CITYSENSE_INGEST_RECEIVE_MAXIMUM": str(s.ingest_receive_maximum),
            "CITYSENSE_INGEST_BATCH_MAX_MESSAGES": str(s.ingest_batch_max_messages),
            "CITYSENSE_INGEST_BATCH_MAX_AGE_MS": str(s.ingest_batch_max_age_ms),
            "CITYSENSE_INGEST_METRICS_PORT": "0",
            "CITYSENSE_INGEST_LIVE_TOPIC": self.bench.live_base,
            "CITYSENSE_INGEST_STRICT_SENSORS": "false",
            "CITYSENSE_RETENTION_DAYS": "0",
            "CITYSENSE_LOG_LEVEL": "INFO",
        }
        self.bench.sessions.add(self.client_id)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "citysense.cli", "ingest"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return _read(str(self.log_path))

    def wait_for(self, needle: str, timeout: float = 60) -> float:
        """Wall clock when `needle` showed up in the log (polled every 5 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return time.time()
            if not self.alive():
                raise RuntimeError(f"ingest exited ({self.proc and self.proc.returncode}):\n{self.log_text()[-2000:]}")
            time.sleep(0.005)
        raise RuntimeError(f"ingest did not log {needle!r} within {timeout:.0f} s:\n{self.log_text()[-2000:]}")

    def peak_rss_mb(self) -> float | None:
        return _rss_mb(self.pid) if self.alive() else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# --- stages --------------------------------------------------------------------------------------------


def _rates(n: int, readings: int, seconds: float) -> dict[str, Any]:
    seconds = max(seconds, 1e-9)
    return {"messages": n, "readings": readings, "seconds": round(seconds, 2),
            "msg_per_s": round(n / seconds), "readings_per_s": round(readings / seconds)}


def _published(p: Published) -> dict[str, Any]:
    return {"messages": p.messages, "msg_per_s": round(p.rate), "publishers": p.publishers,
            "seconds": round(p.acked - p.first, 2), "cpu_s": round(p.cpu_s, 2)}


def _run_consumer(job: ConsumerJob) -> ConsumerResult:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=consume, args=(job, results), daemon=True)
    proc.start()
    try:
        while True:
            with contextlib.suppress(Exception):
                result: ConsumerResult = results.get(timeout=1)
                return result
            if not proc.is_alive():
                raise RuntimeError(f"consumer process exited with {proc.exitcode}")
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()


# The receive ceiling's consumers: stage key, and how it takes and acknowledges a message.
CEILINGS: dict[str, tuple[str, str]] = {
    "json": ("receive_ceiling_json", "paho-mqtt 2, manual_ack=True, ack() after parsing; parse: orjson.loads"),
    "decoders": ("receive_ceiling_decoders", "paho-mqtt 2, manual_ack=True, ack() after parsing; parse: ingest's "
                                             "decoder registry"),
    "paho-buffered": ("receive_ceiling_paho_buffered",
                      "paho-mqtt 2, manual_ack=True, ack() after parsing, its socket wrapped so one recv() of "
                      "256 KiB serves many packets; parse: orjson.loads"),
    "paho-batched": ("receive_ceiling_paho_batched",
                     "paho-mqtt 2, manual_ack=True, ack() after parsing, without paho's thread: the bench's loop "
                     "calls loop_read() for every packet of one 256 KiB read, then sends the PUBACKs queued "
                     "meanwhile in one send(); parse: orjson.loads"),
    "gmqtt": ("receive_ceiling_gmqtt",
              "gmqtt (asyncio event loop), optimistic_acknowledgement=False: a coroutine on_message parses and "
              "returns 0, gmqtt sends the PUBACK when it has returned; parse: orjson.loads"),
    "gmqtt-uvloop": ("receive_ceiling_gmqtt_uvloop",
                     "gmqtt on uvloop, optimistic_acknowledgement=False (PUBACK when the coroutine on_message "
                     "has returned); parse: orjson.loads"),
}
_NEEDS = {"gmqtt": ("gmqtt",), "gmqtt-uvloop": ("gmqtt", "uvloop")}


def _missing(kind: str) -> list[str]:
    return [m for m in _NEEDS.get(kind, ()) if importlib.util.find_spec(m) is None]


def _broker_gone(b: Bench, client_id: str) -> int:
    """Lines of the private broker's log saying `client_id`'s connection ended (0 without one)."""
    if b.broker is None:
        return 0
    return sum(b.broker.log_count(f"Client {client_id} {how}")
               for how in ("disconnected", "closed its connection", "has exceeded timeout"))


def _wait_broker_caught_up(b: Bench, client_id: str, before: int, timeout: float = 60.0) -> float | None:
    """Seconds until the broker has handled the end of the consumer's connection, and so every PUBACK
    sent before it: Mosquitto can be most of a second behind on them after a fast drain, and resuming the
    session earlier takes it over, the PUBACKs still unread then counting as never sent. None when it did
    not happen within the timeout, or when there is no private broker's log to watch (then a fixed 5 s)."""
    t0 = time.monotonic()
    if b.broker is None:
        time.sleep(5)
        return None
    while _broker_gone(b, client_id) <= before:
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.1)
    return round(time.monotonic() - t0, 2)


def _unacknowledged(ep: MqttEndpoint, client_id: str, quiet_s: float = 1.0) -> int:
    """Messages the broker still holds for the session (sent and not acknowledged, or never sent):
    it sends them all to a client that resumes the session with a large Receive Maximum."""
    from bench.broker import client, connect_props

    got: list[int] = []
    c = client(ep, client_id, manual_ack=True)
    c.on_message = lambda _c, _u, msg: got.append(msg.mid)
    c.connect(ep.host, ep.port, keepalive=60, clean_start=False, properties=connect_props(SESSION_EXPIRY_S, 65535))
    c.loop_start()
    try:
        seen, since = -1, time.monotonic()
        while time.monotonic() - since < quiet_s:
            time.sleep(0.1)
            if len(got) != seen:
                seen, since = len(got), time.monotonic()
    finally:
        c.disconnect()
        c.loop_stop()
    return len(got)


def stage_ceiling(b: Bench, kind: str, n: int) -> dict[str, Any]:
    missing = _missing(kind)
    if missing:
        return {"messages": n, "skipped": f"{' and '.join(missing)} not installed (pip install "
                                          f"{' '.join(missing)}, or the dev extra): not measured",
                "verification": {"ok": True, "skipped": True}}
    client_id = f"bench-ceiling-{b.run_id}-{kind}"
    subs = b.subscriptions()
    b.register(client_id, subs)
    gone = _broker_gone(b, client_id)
    load = [round(x, 2) for x in os.getloadavg()]
    try:
        pub = b.publish(n, f"ceiling-{kind}")
        b.say(f"  {n:,} messages queued ({pub.rate:,.0f} msg/s published); draining with a bare {kind} client")
        ep = b.ep
        result = _run_consumer(ConsumerJob(
            kind, ep.host, ep.port, ep.tls, ep.username, ep.password, client_id, tuple(subs),
            b.settings.ingest_receive_maximum, SESSION_EXPIRY_S, n, STALL_S, b.settings.timezone))
        lag = _wait_broker_caught_up(b, client_id, gone) if not result.error else None
        left = _unacknowledged(ep, client_id) if not result.error else None
    finally:
        b.forget(client_id)
    readings = int(b.set.reading_off[n])
    out: dict[str, Any] = {
        "method": "backlog drain: CONNACK to the last message parsed and acknowledged; MQTT v5, Receive Maximum "
                  f"{b.settings.ingest_receive_maximum}, persistent session; " + CEILINGS[kind][1]
                  + "; verified: every message once, no reconnect, nothing left unacknowledged in the session",
        "publish": _published(pub),
        "load_average_at_start": load,
    }
    if result.error or not result.done_at:
        return {**out, "messages": n, "error": result.error or "did not finish",
                "verification": {"ok": False, "received": result.received}}
    out.update(_rates(n, readings, result.done_at - result.connected_at))
    out["cpu_us_per_msg"] = round(result.cpu_s / n * 1e6, 1)
    out["parse_failures"] = result.parse_errors
    out["broker_caught_up_s"] = lag  # after the consumer process ended: the broker's lag on the PUBACKs
    # Every message once, on one connection (a reconnect redelivers the unacknowledged ones, DUP,
    # and the count would reach n before every message was seen), and every one acknowledged: the
    # session holds nothing afterwards.
    out["verification"] = {"ok": result.received == n and result.redelivered == 0 and result.connections == 1
                                 and left == 0,
                           "received": result.received, "expected": n, "redelivered": result.redelivered,
                           "connections": result.connections, "left_unacknowledged": left}
    return out


def stage_naive(b: Bench, n: int) -> dict[str, Any]:
    url = b.create_db("naive")
    client_id = f"bench-naive-{b.run_id}"
    subs = b.subscriptions()
    b.register(client_id, subs)
    depths = tuple((s.id, float(s.metadata["depth_mm"])) for s in bench_fleet(int(b.set.meta["sensors"])).sensors
                   if "depth_mm" in s.metadata)
    try:
        pub = b.publish(n, "naive")
        b.say(f"  {n:,} messages queued; draining with one INSERT per message")
        ep = b.ep
        result = _run_consumer(ConsumerJob(
            "naive", ep.host, ep.port, ep.tls, ep.username, ep.password, client_id, tuple(subs),
            b.settings.ingest_receive_maximum, SESSION_EXPIRY_S, n, STALL_S, b.settings.timezone, url, depths))
    finally:
        b.forget(client_id)
    out: dict[str, Any] = {
        "method": "backlog drain: paho (auto ack) + per message one INSERT … VALUES (its rows) ON CONFLICT DO "
                  "NOTHING, autocommit, from on_message; no rollups, no sensor registry",
        "publish": _published(pub),
    }
    if result.error or not result.done_at:
        out.update({"messages": n, "error": result.error or "did not finish"})
    else:
        out.update(_rates(n, result.rows, result.done_at - result.connected_at))
        out["cpu_us_per_msg"] = round(result.cpu_s / n * 1e6, 1)
    out["verification"] = b.verify(url, n)
    out["database"] = urlsplit(url).path.lstrip("/")
    b.drop_db(url)
    return out


def _latency(b: Bench, n: int, published_at: np.ndarray[Any, Any]) -> dict[str, Any]:
    assert b.bus is not None
    at, sensors, metrics, times = report.bus_readings(b.bus.arrivals)
    pair_index = {p: i for i, p in enumerate(b.set.pairs)}
    pairs = np.array([pair_index.get((s, m), -1) for s, m in zip(sensors, metrics, strict=True)], dtype=np.int64)
    seen_keys = report.reading_keys(pairs.astype(np.int32), times, b.set.time_base_ms)
    seen_keys[pairs < 0] = -1
    pair, time_ms, msg = b.set.readings(n)
    expected_keys = report.reading_keys(pair, time_ms, b.set.time_base_ms)
    committed = report.commit_times(expected_keys, msg, n, seen_keys, at)
    lat = report.percentiles_ms(committed - published_at)
    lat["timed_messages"] = int(np.count_nonzero(np.isfinite(committed)))
    return lat


def _stored(url: str, cutoff: Any) -> tuple[int, int]:
    """Rows in the database with a payload time (before cutoff) and stamped by ingest (after);
    (-1, -1) while the database does not answer."""
    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(url)
        try:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE time < $1) AS timed, count(*) FILTER (WHERE time >= $1) AS stamped "
                "FROM readings", cutoff)
        finally:
            await conn.close()
        return int(row["timed"]), int(row["stamped"])

    try:
        return asyncio.run(count())
    except _DB_ERRORS:
        return -1, -1


def _wait_committed(b: Bench, procs: list[IngestProc], n: int, url: str) -> float:
    """Wall clock of the commit that completed the first n messages' rows.

    The live bus says when ingest committed as many readings as the messages hold; redelivered
    messages are counted there again, so the database then confirms: every distinct timed row
    stored, and at least one row per untimed reading. The answer is the bus arrival of the last
    commit before the confirming count."""
    assert b.bus is not None
    bus = b.bus
    readings = int(b.set.reading_off[n])
    pair, time_ms, _ = b.set.readings(n)
    keys = report.reading_keys(pair, time_ms, b.set.time_base_ms)
    timed = len(np.unique(keys[keys >= 0]))
    untimed = int(np.count_nonzero(time_ms < 0))
    cutoff = datetime.fromtimestamp(int(time_ms.max()) / 1000 + 86_400, UTC)

    def healthy() -> bool:
        # An oversize-packet disconnect means redeliveries: the run is spoilt, stop waiting.
        return all(p.alive() for p in procs) and (
            b.broker is None or b.broker.log_count("oversize packet") == b.oversize_before)

    def fail(why: str) -> RuntimeError:
        dead = [p for p in procs if not p.alive()]
        detail = f"; ingest exited:\n{dead[0].log_text()[-2000:]}" if dead else ""
        return RuntimeError(f"{why}{detail}")

    reached = bus.wait_for(readings, STALL_S, healthy)
    if not reached and not all(p.alive() for p in procs):
        raise fail(f"only {bus.readings:,} of {readings:,} readings seen committed")
    last_change, seen = time.monotonic(), (-1, -1)
    while True:
        arrival = bus.last_arrival
        stored = _stored(url, cutoff)
        if stored[0] >= timed and stored[1] >= untimed:
            return arrival
        if not healthy():
            raise fail(f"{stored[0] + stored[1]:,} of {timed + untimed:,} rows stored when ingest stopped being "
                       "healthy")
        if stored != seen:
            last_change, seen = time.monotonic(), stored
        elif time.monotonic() - last_change > STALL_S:
            raise fail(f"only {stored[0] + stored[1]:,} of {timed + untimed:,} rows stored after {STALL_S:.0f} s "
                       "without progress")
        time.sleep(1.0)


def _ingest_stats(procs: list[IngestProc], n: int, since: dict[int, float]) -> dict[str, Any]:
    cpu = sum(_cpu_s(p.pid) - since.get(p.pid, 0.0) for p in procs)
    return {"peak_rss_mb": [p.peak_rss_mb() for p in procs], "cpu_us_per_msg": round(cpu / n * 1e6, 1)}


def _diagnostics(b: Bench, procs: list[IngestProc], oversize_before: int) -> dict[str, Any]:
    """What went wrong on the way, from ingest's and the broker's logs (a clean run has all zeros)."""
    logs = [p.log_text() for p in procs]
    out: dict[str, Any] = {
        "mqtt_disconnects": sum(report.count_disconnects(t) for t in logs),
        "duplicate_rows": sum(report.count_duplicates(t) for t in logs),
    }
    if b.broker is not None:
        out["broker_oversize_disconnects"] = b.broker.log_count("oversize packet") - oversize_before
    return out


def _explain(diag: dict[str, Any]) -> str:
    if diag.get("broker_oversize_disconnects"):
        return (f"; the broker disconnected ingest {diag['broker_oversize_disconnects']} time(s) for an oversize "
                "packet (a live-bus message larger than max_packet_size), and every reconnect redelivers "
                "the unacknowledged messages")
    if diag.get("mqtt_disconnects"):
        return f"; ingest lost its MQTT connection {diag['mqtt_disconnects']} time(s)"
    return ""


def _ingest_stage(b: Bench, tag: str, replicas: int, n: int, out: dict[str, Any],
                  body: Callable[[list[IngestProc], str], None]) -> dict[str, Any]:
    """A fresh database, `replicas` ingest processes (not started), `body`, then checks and clean-up."""
    url = b.create_db(tag)
    oversize = b.oversize_before = b.broker.log_count("oversize packet") if b.broker is not None else 0
    procs: list[IngestProc] = []
    try:
        with b.ingest(url, tag, replicas) as procs:
            try:
                body(procs, url)
            finally:
                diag = _diagnostics(b, procs, oversize)
    except RuntimeError as exc:
        out.update({"messages": n, "error": str(exc) + _explain(diag)})
    out["diagnostics"] = diag
    out["verification"] = b.verify(url, n)
    out["database"] = urlsplit(url).path.lstrip("/")
    b.drop_db(url)
    return out


def stage_ingest_live(b: Bench, n: int, replicas: int, tag: str) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    out: dict[str, Any] = {"replicas": replicas,
                           "method": "live: ingest running, every message published as fast as the broker takes "
                                     "it; first publish to the last commit seen on the live bus"}

    def body(procs: list[IngestProc], url: str) -> None:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_for("subscribed to")
        cpu0 = {p.pid: _cpu_s(p.pid) for p in procs}
        bus.reset()
        bus.mark()
        machine = cpu.Sampler()
        machine.start()
        pub = b.publish(n, tag, record_times=True)
        out["publish"] = _published(pub)
        b.say(f"  published {n:,} in {pub.acked - pub.first:.1f} s ({pub.rate:,.0f} msg/s); waiting for commits")
        done = _wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [p.pid for p in procs], b.broker_pids())
        out.update(_rates(n, int(b.set.reading_off[n]), done - pub.first))
        out.update(_ingest_stats(procs, n, cpu0))
        assert pub.times is not None
        out["latency"] = _latency(b, n, pub.times)

    return _ingest_stage(b, tag, replicas, n, out, body)


def stage_ingest_backlog(b: Bench, n: int, replicas: int, tag: str) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    out: dict[str, Any] = {"replicas": replicas,
                           "method": "backlog drain: all messages queued for ingest's persistent session(s) while "
                                     "offline; first replica's CONNACK (its log) to the last commit on the live bus"}

    def body(procs: list[IngestProc], url: str) -> None:
        for p in procs:
            p.register()
        pub = b.publish(n, tag)
        out["publish"] = _published(pub)
        if b.broker is not None and b.broker.pid:
            out["broker_rss_mb_with_backlog"] = _rss_mb(b.broker.pid, "VmRSS")
        b.say(f"  {n:,} messages queued ({pub.rate:,.0f} msg/s published); starting {replicas} ingest replica(s)")
        bus.reset()
        machine = cpu.Sampler()
        machine.start()
        for p in procs:
            p.start()
        bus.mark()
        connected = [p.wait_for("connected to") for p in procs]
        done = _wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [p.pid for p in procs], b.broker_pids())
        out.update(_rates(n, int(b.set.reading_off[n]), done - min(connected)))
        out.update(_ingest_stats(procs, n, {}))  # CPU includes start-up (imports, connecting)

    return _ingest_stage(b, tag, replicas, n, out, body)


def stage_latency(b: Bench, rate: float, seconds: float) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    n = max(1, min(len(b.set), int(rate * seconds)))
    out: dict[str, Any] = {"replicas": 1, "rate_msg_per_s": round(rate),
                           "method": "ingest running, publish paced at the given rate; per message: publish time "
                                     "(sender's wall clock) to the first of its readings on the live bus "
                                     "(matched by sensor, metric and time; readings without a time in the payload "
                                     "are not matched)"}

    def body(procs: list[IngestProc], url: str) -> None:
        procs[0].start()
        procs[0].wait_for("subscribed to")
        cpu0 = {procs[0].pid: _cpu_s(procs[0].pid)}
        bus.reset()
        bus.mark()
        machine = cpu.Sampler()
        machine.start()
        pub = b.publish(n, "paced", rate=rate, record_times=True)
        out["publish"] = _published(pub)
        done = _wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [procs[0].pid], b.broker_pids())
        out.update(_rates(n, int(b.set.reading_off[n]), done - pub.first))
        out.update(_ingest_stats(procs, n, cpu0))
        assert pub.times is not None
        out["latency"] = _latency(b, n, pub.times)

    return _ingest_stage(b, "paced", 1, n, out, body)


def stage_writer(b: Bench, batches: int) -> dict[str, Any]:
    """The database write alone (write_cost.py): ingest's batches, with and without the rollups."""
    from ingest.prepare import Inbound, prepare, prepare_config

    size = b.settings.ingest_batch_max_messages
    batches = max(1, min(batches, len(b.set) // size))
    cfg = dataclasses.replace(prepare_config(b.settings), oldest=None)  # the set lies in the past
    base = datetime.now(UTC)
    prepared = []
    for k in range(batches):
        # Every message its own receive time, as ingest stamps them: untimed readings stay distinct.
        msgs = b.set.messages(k * size, (k + 1) * size)
        prepared.append(prepare([Inbound(t, p, base + timedelta(milliseconds=k * size + i))
                                 for i, (t, p) in enumerate(msgs)], cfg))
    full, bare = b.create_db("writer"), b.create_db("insert_only")
    try:
        out = asyncio.run(write_cost.measure(full, bare, prepared, batches * size))
    finally:
        b.drop_db(full)
        b.drop_db(bare)
    out["method"] = ("ingest's Writer (raw rows, hourly and daily rollups, one transaction per batch) against "
                     "a bare INSERT ... ON CONFLICT DO NOTHING of the same rows, one batch after another into "
                     "fresh databases; PostgreSQL backend CPU from /proc")
    return out


# --- the run ---------------------------------------------------------------------------------------------


async def _server_versions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        pg = await conn.fetchval("SHOW server_version")
        ts = await conn.fetchval("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
    finally:
        await conn.close()
    return {"postgresql": str(pg), "timescaledb": str(ts)}


def machine(settings: Settings) -> dict[str, Any]:
    mem = report.status_kib(_read("/proc/meminfo"), "MemTotal")

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    out: dict[str, Any] = {
        "cpu_model": report.cpu_model(_read("/proc/cpuinfo")), "cores": os.cpu_count(),
        "ram_gb": round(mem / 1024 / 1024, 1) if mem else None, "kernel": platform.release(),
        "os": platform.platform(), "python": platform.python_version(), "paho_mqtt": version("paho-mqtt"),
        "gmqtt": version("gmqtt"), "uvloop": version("uvloop"),
        "asyncpg": version("asyncpg"), "orjson": version("orjson"), "mosquitto": mosquitto_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        out.update(asyncio.run(_server_versions(settings.database_url)))
    except (OSError, asyncpg.PostgresError) as exc:
        out["database_error"] = str(exc)
    return out


def _database_reachable(url: str) -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except (OSError, asyncpg.PostgresError):
        return False


def _ensure_database(settings: Settings, say: Callable[[str], None]) -> None:
    """Use the configured server; start the local one (`citysense services up`) when it is ours and down."""
    if _database_reachable(settings.database_url):
        return
    if os.environ.get("CITYSENSE_DATABASE_URL"):
        raise RuntimeError("the database of CITYSENSE_DATABASE_URL is not reachable")
    say("local TimescaleDB not reachable: running `citysense services up --only postgres`")
    from devenv import local_services as services

    with contextlib.redirect_stdout(sys.stderr):
        if services.run("up", "postgres") != 0:
            raise RuntimeError("could not start the local TimescaleDB")


def _stage(b: Bench, key: str, title: str, run: Callable[[], dict[str, Any]]) -> None:
    b.say(f"{title} …")
    t0 = time.monotonic()
    try:
        result = run()
    except Exception as exc:  # one failed stage must not lose the others' figures
        result = {"error": f"{type(exc).__name__}: {exc}", "verification": {"ok": False}}
    result["stage_seconds"] = round(time.monotonic() - t0, 1)
    b.stages[key] = result
    summary = (f"error: {result['error']}" if result.get("error") else
               f"skipped: {result['skipped']}" if result.get("skipped") else
               f"{result.get('msg_per_s', 0):,} msg/s, {result.get('readings_per_s', 0):,} readings/s")
    if result.get("writer"):
        w, bare = result["writer"], result["insert_only"]
        summary = (f"writer p50 {w['p50_ms']} ms per batch ({w['backend_cpu_us_per_msg']} µs backend CPU per "
                   f"message), insert only p50 {bare['p50_ms']} ms ({bare['backend_cpu_us_per_msg']} µs)")
    if result.get("cpu_us_per_msg") is not None:
        summary += f", {result['cpu_us_per_msg']} µs CPU/msg"
    if result.get("machine_cpu"):
        m = result["machine_cpu"]
        parts = ", ".join(f"{g} {v:.0f}" for g, v in m["us_per_msg"].items())
        summary += (f"; machine CPU µs/msg: {parts} = {m['total_us_per_msg']:.0f}"
                    f" ({m['cores_busy']} of {m['cores']} cores busy)")
    lat = result.get("latency") or {}
    if lat.get("p99_ms") is not None:
        summary += f", p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms"
    b.say(f"  {summary}; verified: {result.get('verification', {}).get('ok')} ({result['stage_seconds']} s)")


def run_stages(b: Bench) -> None:
    chosen = set(b.args.stages)
    n, backlog, replicas = b.size("messages"), b.size("backlog"), b.args.replicas
    live = min(n, b.size("live_messages"))
    # The orjson receive ceilings, paho's and the other clients', interleaved round by round: the
    # machine may be shared, and the spread between rounds of one client shows how much that matters.
    clients = list(getattr(b.args, "clients", ())) if "clients" in chosen else []
    kinds = (["json"] if "ceiling" in chosen else []) + clients
    rounds = int(getattr(b.args, "rounds", 1))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds:
            key = CEILINGS[kind][0]
            if runs[kind] and runs[kind][0].get("skipped"):
                continue
            tag = f", round {r + 1} of {rounds}" if rounds > 1 else ""
            _stage(b, key, f"receive ceiling, {kind} ({n:,} messages{tag})",
                   functools.partial(stage_ceiling, b, kind, n))
            runs[kind].append(b.stages[key])
    for kind, results in runs.items():
        b.stages[CEILINGS[kind][0]] = report.combine_rounds(results)
    if "ceiling" in chosen:
        # A rate, reached within seconds: a fifth of the set (at most 100,000) keeps the full run short.
        d = n if b.args.quick else min(n, max(20_000, min(100_000, n // 5)))
        _stage(b, "receive_ceiling_decoders", f"receive ceiling, decoders ({d:,} messages)",
               lambda: stage_ceiling(b, "decoders", d))
    if "naive" in chosen:
        k = min(n, b.size("naive_messages"))
        _stage(b, "naive_baseline", f"naive baseline ({k:,} messages)", lambda: stage_naive(b, k))
    if "ingest1" in chosen:
        _stage(b, "ingest_1_replica_live", f"ingest x1, live ({live:,} messages)",
               lambda: stage_ingest_live(b, live, 1, "live1"))
        _stage(b, "ingest_1_replica_backlog", f"ingest x1, backlog drain ({backlog:,} messages)",
               lambda: stage_ingest_backlog(b, backlog, 1, "backlog1"))
    if "replicas" in chosen:
        _stage(b, "ingest_replicas_live", f"ingest x{replicas}, live ({live:,} messages)",
               lambda: stage_ingest_live(b, live, replicas, "liveN"))
        _stage(b, "ingest_replicas_backlog", f"ingest x{replicas}, backlog drain ({n:,} messages)",
               lambda: stage_ingest_backlog(b, n, replicas, "backlogN"))
    if "writer" in chosen:
        k = b.size("writer_batches")
        _stage(b, "writer", f"database write alone ({k} batches of {b.settings.ingest_batch_max_messages:,} "
               "messages)", lambda: stage_writer(b, k))
    if "latency" in chosen:
        one = b.stages.get("ingest_1_replica_backlog") or b.stages.get("ingest_1_replica_live") or {}
        measured = one.get("msg_per_s") if not one.get("error") else None
        rate = 0.5 * float(measured) if measured else 2000.0
        seconds = float(b.size("paced_seconds"))
        _stage(b, "latency_half_rate", f"latency at {rate:,.0f} msg/s for {seconds:.0f} s",
               lambda: stage_latency(b, rate, seconds))
        if not measured:
            b.stages["latency_half_rate"]["note"] = "no 1-replica rate measured in this run: paced at 2,000 msg/s"


def main(args: Any) -> int:
    from citysense.settings import load_settings

    started = time.monotonic()
    say = _log(started)
    settings = load_settings()
    _ensure_database(settings, say)
    quick = bool(args.quick)
    tmp = tempfile.mkdtemp(prefix="citysense-bench-")
    if True:  # the work dir (logs, broker state) is removed after a run that verified, kept otherwise
        b = Bench(settings, args, say, Path(tmp))
        sizes = {k: b.size(k) for k in FULL}
        need = max(sizes["messages"], sizes["backlog"] if "ingest1" in args.stages else 0)
        m, how = load_or_generate(need, args.sensors, args.seed, os.cpu_count() or 1, say)
        b.messages = m
        say(f"message set: {need:,} messages ({'cached' if how['cached'] else 'generated'}, {how['path']})")
        machine_info = machine(settings)
        if Path("/usr/sbin/mosquitto").exists():
            b.broker = PrivateBroker(Path(tmp) / "mosquitto", args.broker_max_packet_size)
            b.broker.start()
            b.endpoint = b.broker.endpoint
            broker_info = {"kind": "private", "config": "deploy/mosquitto/citysense.conf", "port": b.broker.port,
                           "overrides": ({"max_packet_size": args.broker_max_packet_size}
                                         if args.broker_max_packet_size else {})}
        else:
            b.endpoint = settings.mqtt
            broker_info = {"kind": "configured", "url": repr(settings.mqtt)}
            say("no /usr/sbin/mosquitto: using the configured broker (sessions are cleared after each stage)")
        b.bus = BusListener(b.ep, f"{b.live_base.rstrip('/')}/readings")
        b.bus.start()
        api: dict[str, Any] | None = None
        try:
            run_stages(b)
            if args.api:
                b.say("API latency benchmark (bench/api_latency.py) …")
                from bench import api_latency as api_bench

                try:
                    api = asyncio.run(api_bench.run(settings, quick=quick))
                except Exception as exc:  # reported, like a failed stage
                    api = {"error": f"{type(exc).__name__}: {exc}"}
                b.say("API live-feed load benchmark (bench/api_live.py) …")
                from bench import api_live

                try:
                    api["live"] = asyncio.run(api_live.run(settings, b.ep, quick, Path(tmp)))
                except Exception as exc:  # reported, like a failed stage
                    api["live"] = {"error": f"{type(exc).__name__}: {exc}"}
                b.say("API push benchmark (bench/api_push.py) …")
                from bench import api_push

                try:
                    api["push"] = asyncio.run(api_push.run(settings, b.ep, quick, Path(tmp)))
                except Exception as exc:  # reported, like a failed stage
                    api["push"] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            b.bus.stop()
            for c in list(b.sessions):
                with contextlib.suppress(Exception):
                    b.forget(c)
            broker_peak = _rss_mb(b.broker.pid) if b.broker and b.broker.pid else None
            if b.broker is not None:
                b.broker.stop()
            if not args.keep:
                for name in list(b.databases):
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        asyncio.run(b._drop_db(name))
        targets = report.evaluate_targets(b.stages)
        verified = {k: bool(v.get("verification", {}).get("ok")) for k, v in b.stages.items()}
        out: dict[str, Any] = {
            "benchmark": "citysense ingest throughput and latency",
            "quick": quick,
            "duration_s": round(time.monotonic() - started, 1),
            "machine": machine_info,
            "config": {
                **sizes, "replicas": args.replicas, "publishers": args.publishers, "stages": list(args.stages),
                **({"clients": list(args.clients)} if "clients" in args.stages else {}),
                **({"rounds": args.rounds} if getattr(args, "rounds", 1) > 1 else {}),
                "ingest": {"receive_maximum": settings.ingest_receive_maximum,
                           "batch_max_messages": settings.ingest_batch_max_messages,
                           "batch_max_age_ms": settings.ingest_batch_max_age_ms},
                "broker": {**broker_info, "peak_rss_mb": broker_peak},
                "databases_kept": b.databases if args.keep else [],
            },
            "message_set": {**m.mix(need), **how},
            "stages": b.stages,
            "targets": [t.as_json() for t in targets],
            "verification": {"ok": all(verified.values()) and bool(verified), "stages": verified},
        }
        if api is not None:
            out["api"] = api
    ok = bool(out["verification"]["ok"]) and not (api or {}).get("error")
    if ok and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        out["logs"] = tmp
    print(json.dumps(out, indent=2, default=str))
    print(report.table(out), file=sys.stderr)
    if not ok:
        say(f"verification failed or a stage errored; logs kept in {tmp}")
    return 0 if ok else 1
