"""The local PostgreSQL/TimescaleDB of `citysense services`: initdb, configuration, start and
stop, and the citysense role and database, on 127.0.0.1:55432 (the installation comes from
devenv.debian_root)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from citysense.endpoints import LOCAL_PG_PORT
from devenv import layout as sl
from devenv.debian_root import PgInstall, find_or_build
from devenv.processes import (
    BASE_ENV,
    STOP_TIMEOUT,
    alive,
    fail,
    port_open,
    run_tool,
    say,
    tail,
    wait_gone,
)

PG_START_TIMEOUT = 120.0  # crash recovery of a big WAL can take a while


def _pg_info(layout: sl.Layout) -> dict[str, Any] | None:
    try:
        info = json.loads(layout.postgres_info.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pg_from_info(info: dict[str, Any]) -> PgInstall:
    """The installation a running server was started from (not today's pick)."""
    return PgInstall(root=Path(info["root"]), major=int(info["major"]), uid=int(info["uid"]), gid=int(info["gid"]))


def running_pid(layout: sl.Layout) -> int | None:
    info = _pg_info(layout)
    pid = info.get("pid") if info else None
    return pid if isinstance(pid, int) and alive(pid, ("postgres", "postmaster")) else None


def _psql_socket(
    pg: PgInstall, layout: sl.Layout, script: str, database: str = "postgres"
) -> subprocess.CompletedProcess[str]:
    env = {**BASE_ENV, "PGHOST": str(layout.pg_socket_dir), "PGPORT": str(LOCAL_PG_PORT)}
    return run_tool(
        pg.cmd("psql", "-X", "-Atq", "-U", sl.PG_SUPERUSER, "-d", database, "-f", "-"),
        input=script,
        env=env,
        timeout=60,
    )


def _psql_tcp(pg: PgInstall, script: str) -> subprocess.CompletedProcess[str]:
    """As the app role, over TCP with its password: exactly what ingest/tests do."""
    creds = sl.local_db_credentials()
    env = {
        **BASE_ENV,
        "PGHOST": sl.LOOPBACK,
        "PGPORT": str(LOCAL_PG_PORT),
        "PGUSER": creds.user,
        "PGPASSWORD": creds.password,
        "PGDATABASE": "postgres",
        "PGCONNECT_TIMEOUT": "5",
    }
    return run_tool(pg.cmd("psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-f", "-"), input=script, env=env, timeout=60)


def _write_owned(path: Path, text: str, pg: PgInstall) -> None:
    path.write_text(text)
    os.chown(path, pg.uid, pg.gid)
    path.chmod(0o600)


def _initdb(pg: PgInstall, layout: sl.Layout) -> None:
    instance = pg.host(layout.instance_dir)
    data = pg.host(layout.pg_data_dir)
    instance.parent.mkdir(parents=True, exist_ok=True)
    instance.mkdir(mode=0o700, exist_ok=True)
    os.chown(instance, pg.uid, pg.gid)
    # Lets a human find which state dir a data directory belongs to.
    _write_owned(instance / "STATE_DIR", f"{layout.state_dir}\n", pg)
    socket_dir = pg.host(layout.pg_socket_dir)
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(socket_dir, pg.uid, pg.gid)
    if (data / "PG_VERSION").exists():
        return
    if data.exists():  # an initdb that was interrupted
        shutil.rmtree(data)
    say(f"postgres: initialising a new cluster in {data}")
    result = run_tool(
        pg.cmd(
            "initdb",
            "-D",
            str(layout.pg_data_dir),
            "-U",
            sl.PG_SUPERUSER,
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
    )
    if result.returncode != 0:
        fail(f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def _configure(pg: PgInstall, layout: sl.Layout) -> None:
    data = pg.host(layout.pg_data_dir)
    version = (data / "PG_VERSION").read_text().strip()
    if version != str(pg.major):
        fail(
            f"the data directory {data} is PostgreSQL {version} but the server is {pg.major}; "
            f"delete it (or the state dir {layout.state_dir}) to start over"
        )
    _write_owned(data / sl.PG_INCLUDE_FILE, sl.render_postgres_conf(socket_dir=layout.pg_socket_dir), pg)
    main_conf = data / "postgresql.conf"
    updated = sl.with_include(main_conf.read_text())
    if updated is not None:
        _write_owned(main_conf, updated, pg)


def _pg_versions(pg: PgInstall) -> tuple[str, str] | None:
    result = _psql_tcp(pg, sl.PG_VERSION_SQL)
    return sl.parse_pg_versions(result.stdout) if result.returncode == 0 else None


def _pg_start(pg: PgInstall, layout: sl.Layout) -> int:
    layout.postgres_dir.mkdir(parents=True, exist_ok=True)
    with layout.postgres_log.open("ab") as log:
        # The postmaster logs to the stderr we hand it, so its log can live in
        # the state dir even though the server itself cannot see outside its
        # root. A new session keeps it alive when the terminal goes away.
        proc = subprocess.Popen(
            pg.cmd("postgres", "-D", str(layout.pg_data_dir)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=BASE_ENV,
            start_new_session=True,
            close_fds=True,
        )
    info = {
        "pid": proc.pid,
        "root": str(pg.root),
        "major": pg.major,
        "uid": pg.uid,
        "gid": pg.gid,
        "datadir": str(layout.pg_data_dir),
    }
    layout.postgres_info.write_text(json.dumps(info, indent=2) + "\n")
    deadline = time.monotonic() + PG_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(
                f"postgres exited during start-up (exit {proc.returncode}); see {layout.postgres_log}:\n"
                f"{tail(layout.postgres_log)}"
            )
        if _psql_socket(pg, layout, "SELECT 1;").returncode == 0:
            return proc.pid
        time.sleep(0.3)
    fail(
        f"postgres did not accept connections within {PG_START_TIMEOUT:.0f}s; "
        f"see {layout.postgres_log}:\n{tail(layout.postgres_log)}"
    )


def up(layout: sl.Layout, overrides: sl.Overrides) -> None:
    if overrides.database_url:
        say(f"postgres: not started, using {sl.DATABASE_URL_VAR}={sl.mask_password(overrides.database_url)}")
        return
    where = f"{sl.LOOPBACK}:{LOCAL_PG_PORT}"
    pid = running_pid(layout)
    info = _pg_info(layout)
    if pid is not None and info is not None:
        versions = _pg_versions(_pg_from_info(info))
        if versions is None:
            fail(
                f"postgres (pid {pid}) is running but refuses the citysense login on {where}; see {layout.postgres_log}"
            )
        say(f"postgres (TimescaleDB {versions[0]}, {versions[1]}) on {where} — already running (pid {pid})")
        return
    if port_open(sl.LOOPBACK, LOCAL_PG_PORT):
        fail(
            f"port {LOCAL_PG_PORT} is already in use by another process (not the server of "
            f"{layout.state_dir}); stop it, or set {sl.DATABASE_URL_VAR} to use it"
        )
    pg = find_or_build(layout)
    _initdb(pg, layout)
    _configure(pg, layout)
    pid = _pg_start(pg, layout)
    result = _psql_socket(pg, layout, sl.bootstrap_sql(sl.local_db_credentials()))
    if result.returncode != 0:
        fail(f"creating the citysense role/database failed:\n{result.stdout}{result.stderr}")
    versions = _pg_versions(pg)
    if versions is None:
        fail(f"postgres is up but the citysense login over TCP on {where} fails; see {layout.postgres_log}")
    say(f"postgres (TimescaleDB {versions[0]}, {versions[1]}) on {where} — ready (pid {pid})")


def down(layout: sl.Layout) -> None:
    info = _pg_info(layout)
    pid = running_pid(layout)
    if info is None or pid is None:
        say("postgres: not running")
        return
    pg = _pg_from_info(info)
    # Fast shutdown: roll back open transactions (tests leave pools open) but
    # still checkpoint, so the next start needs no recovery.
    result = run_tool(
        pg.cmd("pg_ctl", "stop", "-D", str(info["datadir"]), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT))),
        timeout=STOP_TIMEOUT + 10,
    )
    if result.returncode != 0 and alive(pid, ("postgres", "postmaster")):
        # pg_ctl unusable (e.g. the cached root was deleted under a running
        # server): SIGINT is the postmaster's own "fast shutdown" signal.
        os.kill(pid, signal.SIGINT)
    if not wait_gone(pid, ("postgres", "postmaster"), STOP_TIMEOUT):
        fail(f"postgres (pid {pid}) did not stop; see {layout.postgres_log}\n{result.stderr.strip()}")
    say(f"postgres: stopped (was pid {pid})")
