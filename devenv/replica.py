"""A private PostgreSQL/TimescaleDB primary with a streaming replica, for the tests of
CITYSENSE_DATABASE_READ_URL: the one place besides devenv.postgres that starts real PostgreSQL.

Both servers run from the debootstrap root that devenv.postgres uses, each in its own temporary
data directory inside that root (a chrooted server cannot see outside it), on free loopback ports.
The replica is a `pg_basebackup -R` of the primary: a hot standby in recovery, replaying the
primary's WAL as it streams in. The shared server of `citysense services` is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from urllib.parse import quote

from devenv import layout as sl
from devenv.debian_root import PgInstall, find_or_build
from devenv.mosquitto import free_port
from devenv.processes import BASE_ENV, STOP_TIMEOUT, fail, run_tool

START_TIMEOUT = 60.0
USER = "citysense"
PASSWORD = "replica-pair"
DATABASE = "citysense"

# After the shared server's settings (later lines win): replication on, and a small footprint,
# since this pair runs beside the shared server on a 2-core machine.
_PAIR_SETTINGS = (
    "wal_level = replica",
    "max_wal_senders = 4",
    "hot_standby = on",
    "hot_standby_feedback = on  # the primary's vacuum does not cancel the replica's long aggregates",
    "shared_buffers = 128MB",
    "max_connections = 60",
    "max_wal_size = 1GB",
    "timescaledb.max_background_workers = 2",
)


def pair_conf(socket_dir: PurePosixPath, port: int) -> str:
    """The included configuration file of one server of the pair."""
    return sl.render_postgres_conf(socket_dir=socket_dir, port=port) + "\n".join(_PAIR_SETTINGS) + "\n"


def url(port: int) -> str:
    return f"postgresql://{USER}:{quote(PASSWORD)}@{sl.LOOPBACK}:{port}/{DATABASE}"


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    data: PurePosixPath  # inside the root
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return url(self.port)


class ReplicaPair:
    """`with ReplicaPair() as pair:` a primary (pair.primary.url) and its streaming replica
    (pair.replica.url), with a superuser `citysense` and a database `citysense` on both."""

    def __init__(self, pg: PgInstall | None = None) -> None:
        self.pg = pg or find_or_build(sl.resolve_layout(os.environ, Path.home()))
        self._tmp: Path | None = None
        self._servers: list[Server] = []

    @property
    def primary(self) -> Server:
        return self._servers[0]

    @property
    def replica(self) -> Server:
        return self._servers[1]

    def __enter__(self) -> ReplicaPair:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        pg = self.pg
        self._tmp = Path(tempfile.mkdtemp(prefix="citysense-replica-", dir=pg.host(PurePosixPath("/tmp"))))
        os.chown(self._tmp, pg.uid, pg.gid)
        inner = PurePosixPath("/") / self._tmp.relative_to(pg.root)
        primary_data, replica_data = inner / "primary", inner / "replica"
        self._run("initdb", "-D", str(primary_data), "-U", sl.PG_SUPERUSER, "--auth-local=peer",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8")
        primary = self._start(primary_data, free_port())
        self._servers.append(primary)
        self._run("psql", "-X", "-Atq", "-h", str(self._socket_dir(primary_data)), "-p", str(primary.port),
                  "-U", sl.PG_SUPERUSER, "-d", "postgres", "-c",
                  f"CREATE ROLE {USER} LOGIN SUPERUSER REPLICATION PASSWORD '{PASSWORD}'",
                  "-c", f"CREATE DATABASE {DATABASE} OWNER {USER}")
        # -R: standby.signal plus primary_conninfo in postgresql.auto.conf; -X stream: the WAL written
        # during the copy comes along, so the replica starts consistent.
        self._run("pg_basebackup", "-D", str(replica_data), "-R", "-X", "stream", "-c", "fast", "-d",
                  f"host={sl.LOOPBACK} port={primary.port} user={USER} password={PASSWORD}")
        self._servers.append(self._start(replica_data, free_port()))
        self._await_streaming()

    def streaming(self) -> int:
        """Replicas streaming from the primary right now (pg_stat_replication)."""
        result = self._run("psql", "-X", "-Atq", "-h", str(self._socket_dir(self.primary.data)),
                           "-p", str(self.primary.port), "-U", sl.PG_SUPERUSER, "-d", "postgres", "-c",
                           "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        return int(result.stdout.strip() or 0)

    def stop(self) -> None:
        for server in reversed(self._servers):
            self._stop(server)
        self._servers.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def stop_replica(self) -> None:
        """Stop the replica (fast shutdown), keeping its data directory and port for start_replica()."""
        self._stop(self.replica)

    def start_replica(self) -> None:
        """Start the stopped replica again on its port; returns once it streams from the primary."""
        self._servers[1] = self._start(self.replica.data, self.replica.port)
        self._await_streaming()

    def _await_streaming(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self.streaming() < 1:
            if time.monotonic() > deadline:
                fail(f"the replica did not stream within {START_TIMEOUT:.0f} s:\n{self._log(self.replica.data)}")
            time.sleep(0.2)

    def _stop(self, server: Server) -> None:
        run_tool(self.pg.cmd("pg_ctl", "stop", "-D", str(server.data), "-m", "fast", "-w",
                             "-t", str(int(STOP_TIMEOUT))), timeout=STOP_TIMEOUT + 10)
        if server.process.poll() is None:
            server.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(10)

    def _socket_dir(self, data: PurePosixPath) -> PurePosixPath:
        return data.parent / f"{data.name}-run"

    def _log(self, data: PurePosixPath) -> str:
        path = self.pg.host(data.parent / f"{data.name}.log")
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _start(self, data: PurePosixPath, port: int) -> Server:
        pg = self.pg
        socket_dir = self._socket_dir(data)
        pg.host(socket_dir).mkdir(mode=0o700, exist_ok=True)  # exists when a stopped replica starts again
        os.chown(pg.host(socket_dir), pg.uid, pg.gid)
        conf = pg.host(data / sl.PG_INCLUDE_FILE)
        conf.write_text(pair_conf(socket_dir, port))  # a replica's copy of the primary's is replaced here
        os.chown(conf, pg.uid, pg.gid)
        main_conf = pg.host(data / "postgresql.conf")
        if (updated := sl.with_include(main_conf.read_text())) is not None:
            main_conf.write_text(updated)
        log = pg.host(data.parent / f"{data.name}.log")
        with log.open("ab") as out:
            process = subprocess.Popen(pg.cmd("postgres", "-D", str(data)), stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, env=BASE_ENV, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while run_tool(pg.cmd("pg_isready", "-q", "-h", sl.LOOPBACK, "-p", str(port))).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                fail(f"postgres in {data} did not start:\n{self._log(data)}")
            time.sleep(0.2)
        return Server(port, data, process)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_tool(self.pg.cmd(tool, *args), timeout=120)
        if result.returncode != 0:
            fail(f"{tool} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
        return result
