"""`citysense services up|down|status|env`: a local Mosquitto and TimescaleDB on loopback.

Mosquitto is Debian's /usr/sbin/mosquitto with deploy/mosquitto/citysense.conf.
TimescaleDB comes from a system PostgreSQL that has the extension, or else
(Debian 12 has no TimescaleDB package) from a Debian trixie tree built once with
debootstrap into the cache dir and run under chroot(1). Decisions and rendered
text live in devenv.layout; this module does the I/O.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from citysense.endpoints import (
    LOCAL_MQTT_PORT,
    LOCAL_PG_PORT,
    EndpointError,
    check_database_url,
    parse_mqtt_url,
)
from devenv import layout as sl
from devenv import mosquitto
from devenv.mosquitto import MOSQUITTO, TEMPLATE

PG_START_TIMEOUT = 120.0  # crash recovery of a big WAL can take a while
MQTT_START_TIMEOUT = 20.0
STOP_TIMEOUT = 60.0

# Children get a known environment: the caller's PGHOST/PGUSER/LC_* must not
# leak into psql/initdb, and the chroot has only the C.UTF-8 locale.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/",
}


class ServiceError(Exception):
    """A failure with a message fit for the user."""


def _fail(message: str) -> NoReturn:
    raise ServiceError(message)


def _say(message: str) -> None:
    print(message, flush=True)


# --- small OS helpers ---------------------------------------------------------------


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _zombie(pid: int) -> bool:
    # Where PID 1 does not reap orphans (some containers), a daemon that died
    # stays a zombie with its name; it holds no port and must count as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def _alive(pid: int | None, names: Sequence[str]) -> bool:
    # Checking the name guards against a stale pid file whose pid was reused.
    return pid is not None and pid > 0 and _process_name(pid) in names and not _zombie(pid)


def _owner(pid: int) -> int | None:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return None


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def _wait_gone(pid: int, names: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid, names):
            return True
        time.sleep(0.1)
    return not _alive(pid, names)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two `up`s at once (e.g. parallel CI steps) would race on initdb/debootstrap.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(
    argv: Sequence[str], *, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        input=input,
        env=env if env is not None else BASE_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- configuration -------------------------------------------------------------------


def _layout() -> sl.Layout:
    return sl.resolve_layout(os.environ, Path.home())


def _overrides() -> sl.Overrides:
    dotenv_values: dict[str, str | None] = {}
    envfile = Path.cwd() / ".env"
    if envfile.is_file():
        from dotenv import dotenv_values as read_dotenv

        dotenv_values = dict(read_dotenv(envfile))
    overrides = sl.pick_overrides(os.environ, dotenv_values)
    try:
        if overrides.database_url:
            check_database_url(overrides.database_url)
        if overrides.mqtt_url:
            parse_mqtt_url(overrides.mqtt_url)
    except EndpointError as exc:
        _fail(str(exc))
    return overrides


# --- privileges ----------------------------------------------------------------------


def _is_root() -> bool:
    return os.geteuid() == 0


def _via_sudo(action: str, layout: sl.Layout, overrides: sl.Overrides, only: str | None = None) -> int:
    """Re-run this action as root. The directories are resolved here, as the
    user, because sudo may reset HOME to root's."""
    sudo = shutil.which("sudo")
    if sudo is None:
        _fail(
            f"`citysense services {action}` must run as root (the TimescaleDB server runs under "
            "chroot, which needs root), and sudo is not installed. Run it as root, or set "
            f"{sl.DATABASE_URL_VAR} to use an existing TimescaleDB."
        )
    # Create the directories as the user so that root does not own ~/.local/state.
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    assignments = [f"{sl.STATE_DIR_VAR}={layout.state_dir}", f"{sl.CACHE_DIR_VAR}={layout.cache_dir}"]
    if overrides.database_url:
        assignments.append(f"{sl.DATABASE_URL_VAR}={overrides.database_url}")
    if overrides.mqtt_url:
        assignments.append(f"{sl.MQTT_URL_VAR}={overrides.mqtt_url}")
    # `env` rather than sudo's own VAR=value: that needs SETENV in sudoers.
    # Straight to run(): the smallest import surface for the root process.
    entry = "import sys; from devenv.local_services import run; sys.exit(run(sys.argv[1], sys.argv[2] or None))"
    argv = [sudo, "env", *assignments, sys.executable, "-c", entry, action, only or ""]
    return subprocess.call(argv)


def _give_back_state_dir(layout: sl.Layout) -> None:
    """Under sudo, hand the state dir back to the invoking user so they can read
    the logs and delete it; the daemons keep writing through open files."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if not _is_root() or not uid or not gid or uid == "0":
        return
    for dirpath, dirnames, filenames in os.walk(layout.state_dir):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            with contextlib.suppress(OSError):
                os.lchown(name, int(uid), int(gid))


# --- Mosquitto -----------------------------------------------------------------------


def _mosquitto_pid(layout: sl.Layout) -> int | None:
    pid = _read_pid(layout.mosquitto_pid)
    return pid if _alive(pid, ("mosquitto",)) else None


def _mosquitto_up(layout: sl.Layout, overrides: sl.Overrides) -> None:
    if overrides.mqtt_url:
        _say(f"mosquitto: not started, using {sl.MQTT_URL_VAR}={sl.mask_password(overrides.mqtt_url)}")
        return
    where = f"{sl.LOOPBACK}:{LOCAL_MQTT_PORT}"
    version = mosquitto.version()
    pid = _mosquitto_pid(layout)
    if pid is not None:
        if not mosquitto.answers_mqtt(sl.LOOPBACK, LOCAL_MQTT_PORT):
            _fail(
                f"mosquitto (pid {pid}) is running but does not answer MQTT on {where}; "
                f"see {layout.mosquitto_log}, or run `citysense services down` first"
            )
        _say(f"mosquitto ({version}) on {where} — already running (pid {pid})")
        return
    if not Path(MOSQUITTO).exists():
        _fail(f"{MOSQUITTO} not found; run scripts/bootstrap.sh (installs the Debian package mosquitto)")
    if _port_open(sl.LOOPBACK, LOCAL_MQTT_PORT):
        _fail(
            f"port {LOCAL_MQTT_PORT} is already in use by another process (not the broker of "
            f"{layout.state_dir}); stop it, or set {sl.MQTT_URL_VAR} to use it"
        )

    layout.mosquitto_persistence.mkdir(parents=True, exist_ok=True)
    layout.mosquitto_pid.unlink(missing_ok=True)
    try:
        template = TEMPLATE.read_text()
    except OSError as exc:
        _fail(f"cannot read the Mosquitto template {TEMPLATE}: {exc}")
    conf = sl.render_mosquitto_conf(
        template,
        persistence_dir=layout.mosquitto_persistence,
        pid_file=layout.mosquitto_pid,
        log_file=layout.mosquitto_log,
        user=pwd.getpwuid(os.geteuid()).pw_name,
    )
    layout.mosquitto_conf.write_text(conf)
    started = _run([MOSQUITTO, "-c", str(layout.mosquitto_conf), "-d"], timeout=30)
    if started.returncode != 0:
        _fail(
            f"mosquitto failed to start (exit {started.returncode}):\n"
            f"{(started.stderr + started.stdout).strip()}\nlog: {layout.mosquitto_log}\n"
            f"{_tail(layout.mosquitto_log)}"
        )
    deadline = time.monotonic() + MQTT_START_TIMEOUT
    while time.monotonic() < deadline:
        if mosquitto.answers_mqtt(sl.LOOPBACK, LOCAL_MQTT_PORT, timeout=1.0):
            _say(f"mosquitto ({version}) on {where} — ready (pid {_read_pid(layout.mosquitto_pid)})")
            return
        time.sleep(0.2)
    _fail(
        f"mosquitto did not accept an MQTT connection on {where} within {MQTT_START_TIMEOUT:.0f}s; "
        f"see {layout.mosquitto_log}:\n{_tail(layout.mosquitto_log)}"
    )


def _mosquitto_down(layout: sl.Layout) -> None:
    pid = _mosquitto_pid(layout)
    if pid is None:
        layout.mosquitto_pid.unlink(missing_ok=True)
        _say("mosquitto: not running")
        return
    # SIGTERM, never SIGKILL first: mosquitto writes its persistence file on a
    # clean exit, which is what keeps queued QoS1 messages across a restart.
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, ("mosquitto",), STOP_TIMEOUT):
        _fail(f"mosquitto (pid {pid}) did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM; see {layout.mosquitto_log}")
    layout.mosquitto_pid.unlink(missing_ok=True)
    _say(f"mosquitto: stopped (was pid {pid})")


# --- PostgreSQL / TimescaleDB -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PgInstall:
    """A PostgreSQL with TimescaleDB: the root it lives in ("/" for the system's)
    and the postgres user's ids in that root."""

    root: Path
    major: int
    uid: int
    gid: int

    @property
    def bindir(self) -> PurePosixPath:
        return sl.pg_bindir(self.major)

    def cmd(self, tool: str, *args: str) -> list[str]:
        return sl.in_root(self.root, self.uid, self.gid, [str(self.bindir / tool), *args])

    def host(self, inner: PurePosixPath) -> Path:
        return sl.host_path(self.root, inner)


def _timescale_in(root: Path) -> PgInstall | None:
    controls = ["/" + str(p.relative_to(root)) for pattern in sl.TIMESCALE_CONTROL_GLOBS for p in root.glob(pattern)]
    servers = [
        int(p.parent.parent.name)
        for p in root.glob("usr/lib/postgresql/*/bin/postgres")
        if p.parent.parent.name.isdigit()
    ]
    major = sl.find_timescale_major(controls, servers)
    if major is None:
        return None
    try:
        ids = sl.passwd_ids((root / "etc/passwd").read_text(), sl.PG_SUPERUSER)
    except OSError:
        ids = None
    if ids is None:
        return None
    return PgInstall(root=root, major=major, uid=ids[0], gid=ids[1])


def _remove_tree(path: Path) -> None:
    """rm -rf that first unmounts anything debootstrap left mounted inside (an
    interrupted build can leave proc/sys/dev mounts); never deletes across one."""
    for mount_point in sl.mounts_under(Path("/proc/self/mountinfo").read_text(), path):
        if _run(["umount", str(mount_point)]).returncode != 0:
            _run(["umount", "-l", str(mount_point)])
    if sl.mounts_under(Path("/proc/self/mountinfo").read_text(), path):
        _fail(f"cannot unmount everything under {path}; unmount by hand and retry")
    result = _run(["rm", "-rf", "--one-file-system", str(path)], timeout=600)
    if result.returncode != 0:
        _fail(f"could not delete {path}: {result.stderr.strip()}")


def _apt_sources() -> list[tuple[str, str]]:
    files = [Path("/etc/apt/sources.list")]
    directory = Path("/etc/apt/sources.list.d")
    if directory.is_dir():
        files += sorted(directory.iterdir())
    sources = []
    for file in files:
        with contextlib.suppress(OSError):
            sources.append((file.name, file.read_text()))
    return sources


def _proxy_env() -> dict[str, str]:
    # debootstrap downloads with wget, which needs the caller's proxy settings.
    names = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    return {name: os.environ[name] for name in names if name in os.environ}


def _build_root(layout: sl.Layout) -> PgInstall:
    """Debootstrap Debian trixie with postgresql-17-timescaledb into the cache, once."""
    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(layout.root_build_lock):
        root = layout.timescale_root
        found = _timescale_in(root) if root.exists() else None
        if found is not None:
            return found  # built meanwhile by a concurrent `up`
        debootstrap = shutil.which("debootstrap", path=BASE_ENV["PATH"])
        if debootstrap is None:
            _fail("debootstrap is not installed; run scripts/bootstrap.sh")
        if root.exists():
            # Never deleted automatically: the data directories of every state
            # dir live inside it.
            _fail(
                f"{root} exists but has no usable PostgreSQL with TimescaleDB; move it away or delete it "
                "(this deletes the local databases in it) and run `citysense services up` again"
            )
        for stale in layout.cache_dir.glob(layout.partial_root_glob):
            _say(f"services: removing incomplete TimescaleDB root {stale}")
            _remove_tree(stale)
        mirror = sl.debian_mirror(_apt_sources(), os.environ.get(sl.MIRROR_VAR))
        partial = layout.partial_root(os.getpid())
        layout.debootstrap_log.parent.mkdir(parents=True, exist_ok=True)
        _say(f"services: building the TimescaleDB root (one time, about a minute) from {mirror} into {root}…")
        started = time.monotonic()
        with layout.debootstrap_log.open("w") as log:
            result = subprocess.run(
                sl.debootstrap_command(partial, mirror),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**BASE_ENV, **_proxy_env()},
                check=False,
            )
        if result.returncode != 0:
            _remove_tree(partial)
            _fail(
                f"debootstrap failed (exit {result.returncode}); see {layout.debootstrap_log}:\n"
                f"{_tail(layout.debootstrap_log)}"
            )
        if _timescale_in(partial) is None:
            _remove_tree(partial)
            _fail(f"debootstrap finished but {sl.ROOT_PACKAGE} is missing; see {layout.debootstrap_log}")
        partial.rename(root)
        _say(f"services: TimescaleDB root ready in {time.monotonic() - started:.0f}s")
        found = _timescale_in(root)
        assert found is not None
        return found


def _pg_install(layout: sl.Layout) -> PgInstall:
    system = _timescale_in(Path("/"))
    if system is not None:
        return system
    root = layout.timescale_root
    found = _timescale_in(root) if root.exists() else None
    return found if found is not None else _build_root(layout)


def _pg_info(layout: sl.Layout) -> dict[str, Any] | None:
    try:
        info = json.loads(layout.postgres_info.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pg_from_info(info: dict[str, Any]) -> PgInstall:
    """The installation a running server was started from (not today's pick)."""
    return PgInstall(root=Path(info["root"]), major=int(info["major"]), uid=int(info["uid"]), gid=int(info["gid"]))


def _pg_running_pid(layout: sl.Layout) -> int | None:
    info = _pg_info(layout)
    pid = info.get("pid") if info else None
    return pid if isinstance(pid, int) and _alive(pid, ("postgres", "postmaster")) else None


def _psql_socket(
    pg: PgInstall, layout: sl.Layout, script: str, database: str = "postgres"
) -> subprocess.CompletedProcess[str]:
    env = {**BASE_ENV, "PGHOST": str(layout.pg_socket_dir), "PGPORT": str(LOCAL_PG_PORT)}
    return _run(
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
    return _run(pg.cmd("psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-f", "-"), input=script, env=env, timeout=60)


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
    _say(f"postgres: initialising a new cluster in {data}")
    result = _run(
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
        _fail(f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def _configure(pg: PgInstall, layout: sl.Layout) -> None:
    data = pg.host(layout.pg_data_dir)
    version = (data / "PG_VERSION").read_text().strip()
    if version != str(pg.major):
        _fail(
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
            _fail(
                f"postgres exited during start-up (exit {proc.returncode}); see {layout.postgres_log}:\n"
                f"{_tail(layout.postgres_log)}"
            )
        if _psql_socket(pg, layout, "SELECT 1;").returncode == 0:
            return proc.pid
        time.sleep(0.3)
    _fail(
        f"postgres did not accept connections within {PG_START_TIMEOUT:.0f}s; "
        f"see {layout.postgres_log}:\n{_tail(layout.postgres_log)}"
    )


def _postgres_up(layout: sl.Layout, overrides: sl.Overrides) -> None:
    if overrides.database_url:
        _say(f"postgres: not started, using {sl.DATABASE_URL_VAR}={sl.mask_password(overrides.database_url)}")
        return
    where = f"{sl.LOOPBACK}:{LOCAL_PG_PORT}"
    pid = _pg_running_pid(layout)
    info = _pg_info(layout)
    if pid is not None and info is not None:
        versions = _pg_versions(_pg_from_info(info))
        if versions is None:
            _fail(
                f"postgres (pid {pid}) is running but refuses the citysense login on {where}; see {layout.postgres_log}"
            )
        _say(f"postgres (TimescaleDB {versions[0]}, {versions[1]}) on {where} — already running (pid {pid})")
        return
    if _port_open(sl.LOOPBACK, LOCAL_PG_PORT):
        _fail(
            f"port {LOCAL_PG_PORT} is already in use by another process (not the server of "
            f"{layout.state_dir}); stop it, or set {sl.DATABASE_URL_VAR} to use it"
        )
    pg = _pg_install(layout)
    _initdb(pg, layout)
    _configure(pg, layout)
    pid = _pg_start(pg, layout)
    result = _psql_socket(pg, layout, sl.bootstrap_sql(sl.local_db_credentials()))
    if result.returncode != 0:
        _fail(f"creating the citysense role/database failed:\n{result.stdout}{result.stderr}")
    versions = _pg_versions(pg)
    if versions is None:
        _fail(f"postgres is up but the citysense login over TCP on {where} fails; see {layout.postgres_log}")
    _say(f"postgres (TimescaleDB {versions[0]}, {versions[1]}) on {where} — ready (pid {pid})")


def _postgres_down(layout: sl.Layout) -> None:
    info = _pg_info(layout)
    pid = _pg_running_pid(layout)
    if info is None or pid is None:
        _say("postgres: not running")
        return
    pg = _pg_from_info(info)
    # Fast shutdown: roll back open transactions (tests leave pools open) but
    # still checkpoint, so the next start needs no recovery.
    result = _run(
        pg.cmd("pg_ctl", "stop", "-D", str(info["datadir"]), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT))),
        timeout=STOP_TIMEOUT + 10,
    )
    if result.returncode != 0 and _alive(pid, ("postgres", "postmaster")):
        # pg_ctl unusable (e.g. the cached root was deleted under a running
        # server): SIGINT is the postmaster's own "fast shutdown" signal.
        os.kill(pid, signal.SIGINT)
    if not _wait_gone(pid, ("postgres", "postmaster"), STOP_TIMEOUT):
        _fail(f"postgres (pid {pid}) did not stop; see {layout.postgres_log}\n{result.stderr.strip()}")
    _say(f"postgres: stopped (was pid {pid})")


# --- actions -------------------------------------------------------------------------


def _up(layout: sl.Layout, overrides: sl.Overrides, only: str | None = None) -> int:
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(layout.lock_file):
        try:
            if only in (None, "mosquitto"):
                _mosquitto_up(layout, overrides)
            if only in (None, "postgres"):
                _postgres_up(layout, overrides)
        finally:
            _give_back_state_dir(layout)
    return 0


def _down(layout: sl.Layout, only: str | None = None) -> int:
    if not layout.state_dir.exists():
        _say("mosquitto: not running")
        _say("postgres: not running")
        return 0
    with _locked(layout.lock_file):
        try:
            if only in (None, "mosquitto"):
                _mosquitto_down(layout)
            if only in (None, "postgres"):
                _postgres_down(layout)
        finally:
            _give_back_state_dir(layout)
    return 0


def _status_external(name: str, var: str, url: str, target: tuple[str, int] | None) -> bool:
    reachable = target is not None and _port_open(*target)
    state = "reachable" if reachable else "unreachable" if target else "not checked"
    _say(f"{name}: external, {var}={sl.mask_password(url)} — {state}")
    return reachable


def _status(layout: sl.Layout, overrides: sl.Overrides) -> int:
    ok = True
    if overrides.mqtt_url:
        endpoint = parse_mqtt_url(overrides.mqtt_url)  # knows mqtts defaults to 8883
        ok &= _status_external("mosquitto", sl.MQTT_URL_VAR, overrides.mqtt_url, (endpoint.host, endpoint.port))
    else:
        pid = _mosquitto_pid(layout)
        listening = _port_open(sl.LOOPBACK, LOCAL_MQTT_PORT)
        if pid is not None and listening:
            _say(f"mosquitto: running on {sl.LOOPBACK}:{LOCAL_MQTT_PORT} (pid {pid})")
        else:
            ok = False
            extra = f", but port {LOCAL_MQTT_PORT} is in use by another process" if listening else ""
            _say(f"mosquitto: stopped (port {LOCAL_MQTT_PORT}{extra})")
    if overrides.database_url:
        target = sl.url_host_port(overrides.database_url, 5432)
        ok &= _status_external("postgres", sl.DATABASE_URL_VAR, overrides.database_url, target)
    else:
        pid = _pg_running_pid(layout)
        listening = _port_open(sl.LOOPBACK, LOCAL_PG_PORT)
        if pid is not None and listening:
            _say(f"postgres: running on {sl.LOOPBACK}:{LOCAL_PG_PORT} (pid {pid})")
        else:
            ok = False
            extra = f", but port {LOCAL_PG_PORT} is in use by another process" if listening else ""
            _say(f"postgres: stopped (port {LOCAL_PG_PORT}{extra})")
    return 0 if ok else 3


def _needs_root(action: str, layout: sl.Layout, overrides: sl.Overrides) -> bool:
    if action == "up":
        return overrides.database_url is None
    if action == "down":
        # Signalling a daemon that root started (all of postgres, and mosquitto
        # when `up` ran as root) needs root too.
        pids = [_pg_running_pid(layout), _mosquitto_pid(layout)]
        return any(pid is not None and _owner(pid) != os.geteuid() for pid in pids)
    return False


def run(action: str, only: str | None = None) -> int:
    """`only` ("postgres" or "mosquitto") limits up/down to one service, e.g. to restart the database."""
    try:
        layout = _layout()
        overrides = _overrides()
        if action == "env":
            print("\n".join(sl.env_lines(overrides)))
            return 0
        if action == "status":
            return _status(layout, overrides)
        if action not in ("up", "down"):
            _fail(f"unknown action {action!r} (expected up, down, status or env)")
        if not _is_root() and _needs_root(action, layout, overrides):
            return _via_sudo(action, layout, overrides, only)
        return _up(layout, overrides, only) if action == "up" else _down(layout, only)
    except ServiceError as exc:
        print(f"services: error: {exc}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print(f"services: error: timed out: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return 1
