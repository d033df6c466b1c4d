"""`citysense services up|down|status|env`: a local Mosquitto and TimescaleDB on loopback.

This module is the command: overrides from the environment, privileges (a re-run under sudo),
locking, and status. The daemons are started and stopped by devenv.mosquitto (Debian's
/usr/sbin/mosquitto with deploy/mosquitto/citysense.conf) and devenv.postgres (TimescaleDB from
the installation devenv.debian_root finds or builds). Decisions and rendered text live in
devenv.layout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from citysense.endpoints import (
    LOCAL_MQTT_PORT,
    LOCAL_PG_PORT,
    EndpointError,
    check_database_url,
    parse_mqtt_url,
)
from devenv import layout as sl
from devenv import mosquitto, postgres
from devenv.processes import (
    ServiceError,
    fail,
    locked,
    owner,
    port_open,
    say,
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
        fail(str(exc))
    return overrides


# --- privileges ----------------------------------------------------------------------


def _is_root() -> bool:
    return os.geteuid() == 0


def _via_sudo(action: str, layout: sl.Layout, overrides: sl.Overrides, only: str | None = None) -> int:
    """Re-run this action as root. The directories are resolved here, as the
    user, because sudo may reset HOME to root's."""
    sudo = shutil.which("sudo")
    if sudo is None:
        fail(
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


# --- actions -------------------------------------------------------------------------


def _up(layout: sl.Layout, overrides: sl.Overrides, only: str | None = None) -> int:
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with locked(layout.lock_file):
        try:
            if only in (None, "mosquitto"):
                mosquitto.up(layout, overrides)
            if only in (None, "postgres"):
                postgres.up(layout, overrides)
        finally:
            _give_back_state_dir(layout)
    return 0


def _down(layout: sl.Layout, only: str | None = None) -> int:
    if not layout.state_dir.exists():
        say("mosquitto: not running")
        say("postgres: not running")
        return 0
    with locked(layout.lock_file):
        try:
            if only in (None, "mosquitto"):
                mosquitto.down(layout)
            if only in (None, "postgres"):
                postgres.down(layout)
        finally:
            _give_back_state_dir(layout)
    return 0


def _status_external(name: str, var: str, url: str, target: tuple[str, int] | None) -> bool:
    reachable = target is not None and port_open(*target)
    state = "reachable" if reachable else "unreachable" if target else "not checked"
    say(f"{name}: external, {var}={sl.mask_password(url)} — {state}")
    return reachable


def _status(layout: sl.Layout, overrides: sl.Overrides) -> int:
    ok = True
    if overrides.mqtt_url:
        endpoint = parse_mqtt_url(overrides.mqtt_url)  # knows mqtts defaults to 8883
        ok &= _status_external("mosquitto", sl.MQTT_URL_VAR, overrides.mqtt_url, (endpoint.host, endpoint.port))
    else:
        pid = mosquitto.daemon_pid(layout)
        listening = port_open(sl.LOOPBACK, LOCAL_MQTT_PORT)
        if pid is not None and listening:
            say(f"mosquitto: running on {sl.LOOPBACK}:{LOCAL_MQTT_PORT} (pid {pid})")
        else:
            ok = False
            extra = f", but port {LOCAL_MQTT_PORT} is in use by another process" if listening else ""
            say(f"mosquitto: stopped (port {LOCAL_MQTT_PORT}{extra})")
    if overrides.database_url:
        target = sl.url_host_port(overrides.database_url, 5432)
        ok &= _status_external("postgres", sl.DATABASE_URL_VAR, overrides.database_url, target)
    else:
        pid = postgres.running_pid(layout)
        listening = port_open(sl.LOOPBACK, LOCAL_PG_PORT)
        if pid is not None and listening:
            say(f"postgres: running on {sl.LOOPBACK}:{LOCAL_PG_PORT} (pid {pid})")
        else:
            ok = False
            extra = f", but port {LOCAL_PG_PORT} is in use by another process" if listening else ""
            say(f"postgres: stopped (port {LOCAL_PG_PORT}{extra})")
    return 0 if ok else 3


def _needs_root(action: str, layout: sl.Layout, overrides: sl.Overrides) -> bool:
    if action == "up":
        return overrides.database_url is None
    if action == "down":
        # Signalling a daemon that root started (all of postgres, and mosquitto
        # when `up` ran as root) needs root too.
        pids = [postgres.running_pid(layout), mosquitto.daemon_pid(layout)]
        return any(pid is not None and owner(pid) != os.geteuid() for pid in pids)
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
            fail(f"unknown action {action!r} (expected up, down, status or env)")
        if not _is_root() and _needs_root(action, layout, overrides):
            return _via_sudo(action, layout, overrides, only)
        return _up(layout, overrides, only) if action == "up" else _down(layout, only)
    except ServiceError as exc:
        print(f"services: error: {exc}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print(f"services: error: timed out: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return 1
