"""Small process and file helpers of the local services (devenv): known environment, pid files,
/proc, ports, locks, and the error type whose message is fit for the user."""

from __future__ import annotations

import contextlib
import fcntl
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

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


def fail(message: str) -> NoReturn:
    raise ServiceError(message)


def say(message: str) -> None:
    print(message, flush=True)


# --- small OS helpers ---------------------------------------------------------------


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def zombie(pid: int) -> bool:
    # Where PID 1 does not reap orphans (some containers), a daemon that died
    # stays a zombie with its name; it holds no port and must count as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def alive(pid: int | None, names: Sequence[str]) -> bool:
    # Checking the name guards against a stale pid file whose pid was reused.
    return pid is not None and pid > 0 and process_name(pid) in names and not zombie(pid)


def owner(pid: int) -> int | None:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return None


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def wait_gone(pid: int, names: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, names):
            return True
        time.sleep(0.1)
    return not alive(pid, names)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    # Two `up`s at once (e.g. parallel CI steps) would race on initdb/debootstrap.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_tool(
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
