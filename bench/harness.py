"""The bench's harness: what every stage runs on (I/O; the arithmetic is report.py).

`Bench` holds one run: the settings and options, the private broker and its live-bus listener,
the message set, and the databases and MQTT sessions it made. Every stage gets a fresh database
(CREATE DATABASE, models.migrate.apply, the bench fleet registered) on the configured PostgreSQL
server and fresh MQTT sessions on the private Mosquitto, and every stage uses the same
pre-generated messages (messages.py), from the first one on. `IngestProc` is one real
`citysense ingest` process; `ingest_stage` runs a stage's ingest processes against a fresh
database and checks what they stored, and `wait_committed` says when they have.

Throughput is timed two ways:
* backlog drain: the consumer's persistent session is created, every message is published
  while the consumer is offline (the broker queues them), then the consumer starts; the
  clock runs from its CONNACK ("connected to" in ingest's log) to the commit of the last
  reading, so the publisher's speed does not enter;
* live: the consumer runs, everything is published as fast as the broker takes it; the
  clock runs from the first publish to the last commit.
A commit is seen on ingest's live bus (`<live topic>/readings`), which it publishes after
each commit; the database is then checked row by row (counts per sensor and metric).
The stages are bench/stages/*.py; bench/run.py runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np

from bench import report
from bench.broker import BusListener, Published, clear_session, publish, register_session
from bench.consumers import ConsumerJob, ConsumerResult, consume
from bench.fleet import bench_fleet
from bench.messages import MessageSet
from bench.options import FULL, QUICK
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from devenv.mosquitto import PrivateBroker
from ingest.consumer import session_config
from models.migrate import apply
from simulators.fleet_registration import register as register_fleet

SESSION_EXPIRY_S = 3600
STALL_S = 60.0  # a stage fails when nothing was committed for this long
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # a server restarting, a connection cut


def bench_log(start: float) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"[bench {time.monotonic() - start:6.1f}s] {line}", file=sys.stderr, flush=True)

    return say


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def mqtt_url(ep: MqttEndpoint) -> str:
    auth = f"{ep.username}:{ep.password}@" if ep.username else ""
    return f"{'mqtts' if ep.tls else 'mqtt'}://{auth}{ep.host}:{ep.port}"


def read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    kib = report.status_kib(read_text(f"/proc/{pid}/status"), field)
    return round(kib / 1024, 1) if kib is not None else None


def cpu_s(pid: int) -> float:
    text = read_text(f"/proc/{pid}/stat")
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
    async def _create_db(self, stage: str, until: int | None) -> str:
        name = f"citysense_bench_{self.run_id}_{stage}"
        admin = await asyncpg.connect(self.settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a half-made earlier try
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        if name not in self.databases:
            self.databases.append(name)
        url = with_database(self.settings.database_url, name)
        conn = await asyncpg.connect(url)
        try:
            await apply(conn, self.settings.model_copy(update={"database_url": url}), until=until)
            await register_fleet(conn, bench_fleet(int(self.set.meta["sensors"])))
        finally:
            await conn.close()
        return url

    def create_db(self, stage: str, until: int | None = None) -> str:
        """A fresh database with the schema (up to migration `until`: the writer stage's baseline)."""
        deadline = time.monotonic() + 120
        while True:  # the server may be restarting (another test run, an operator): wait for it
            try:
                return asyncio.run(self._create_db(stage, until))
            except DB_ERRORS as exc:
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
            except DB_ERRORS:
                if attempt == 9:
                    raise
                time.sleep(3)
        result = report.compare_counts(expected, actual)
        result["rejected_messages"] = rejected
        result["ok"] = bool(result["ok"] and rejected == 0)
        return result

    # -- MQTT ----------------------------------------------------------------------------------
    def register(self, client_id: str, subscriptions: list[str]) -> None:
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
            "CITYSENSE_MQTT_URL": mqtt_url(self.bench.ep),
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
            "CITYSENSE_LOG_LEVEL": "DEBUG",  # bench/report.py reads the per-batch lines (DEBUG)
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
        return read_text(str(self.log_path))

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
        return rss_mb(self.pid) if self.alive() else None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def rates(n: int, readings: int, seconds: float) -> dict[str, Any]:
    seconds = max(seconds, 1e-9)
    return {"messages": n, "readings": readings, "seconds": round(seconds, 2),
            "msg_per_s": round(n / seconds), "readings_per_s": round(readings / seconds)}


def published(p: Published) -> dict[str, Any]:
    return {"messages": p.messages, "msg_per_s": round(p.rate), "publishers": p.publishers,
            "seconds": round(p.acked - p.first, 2), "cpu_s": round(p.cpu_s, 2)}


def run_consumer(job: ConsumerJob) -> ConsumerResult:
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


def latency_of(b: Bench, n: int, published_at: np.ndarray[Any, Any]) -> dict[str, Any]:
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


def stored_rows(url: str, cutoff: Any) -> tuple[int, int]:
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
    except DB_ERRORS:
        return -1, -1


def wait_committed(b: Bench, procs: list[IngestProc], n: int, url: str) -> float:
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
        stored = stored_rows(url, cutoff)
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


def ingest_stats(procs: list[IngestProc], n: int, since: dict[int, float]) -> dict[str, Any]:
    cpu = sum(cpu_s(p.pid) - since.get(p.pid, 0.0) for p in procs)
    return {"peak_rss_mb": [p.peak_rss_mb() for p in procs], "cpu_us_per_msg": round(cpu / n * 1e6, 1)}


def diagnostics(b: Bench, procs: list[IngestProc], oversize_before: int) -> dict[str, Any]:
    """What went wrong on the way, from ingest's and the broker's logs (a clean run has all zeros)."""
    logs = [p.log_text() for p in procs]
    out: dict[str, Any] = {
        "mqtt_disconnects": sum(report.count_disconnects(t) for t in logs),
        "duplicate_rows": sum(report.count_duplicates(t) for t in logs),
    }
    if b.broker is not None:
        out["broker_oversize_disconnects"] = b.broker.log_count("oversize packet") - oversize_before
    return out


def explain(diag: dict[str, Any]) -> str:
    if diag.get("broker_oversize_disconnects"):
        return (f"; the broker disconnected ingest {diag['broker_oversize_disconnects']} time(s) for an oversize "
                "packet (a live-bus message larger than max_packet_size), and every reconnect redelivers "
                "the unacknowledged messages")
    if diag.get("mqtt_disconnects"):
        return f"; ingest lost its MQTT connection {diag['mqtt_disconnects']} time(s)"
    return ""


def ingest_stage(b: Bench, tag: str, replicas: int, n: int, out: dict[str, Any],
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
                diag = diagnostics(b, procs, oversize)
    except RuntimeError as exc:
        out.update({"messages": n, "error": str(exc) + explain(diag)})
    out["diagnostics"] = diag
    out["verification"] = b.verify(url, n)
    out["database"] = urlsplit(url).path.lstrip("/")
    b.drop_db(url)
    return out
