"""Where the local TimescaleDB server comes from: a system PostgreSQL whose extension directory
holds TimescaleDB, or else (Debian 12 packages none) a Debian trixie root with
postgresql-17-timescaledb, built once with debootstrap into the cache dir and run under chroot(1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from devenv import layout as sl
from devenv.processes import (
    BASE_ENV,
    fail,
    locked,
    run_tool,
    say,
    tail,
)


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


def timescale_in(root: Path) -> PgInstall | None:
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
        if run_tool(["umount", str(mount_point)]).returncode != 0:
            run_tool(["umount", "-l", str(mount_point)])
    if sl.mounts_under(Path("/proc/self/mountinfo").read_text(), path):
        fail(f"cannot unmount everything under {path}; unmount by hand and retry")
    result = run_tool(["rm", "-rf", "--one-file-system", str(path)], timeout=600)
    if result.returncode != 0:
        fail(f"could not delete {path}: {result.stderr.strip()}")


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


def build_root(layout: sl.Layout) -> PgInstall:
    """Debootstrap Debian trixie with postgresql-17-timescaledb into the cache, once."""
    layout.cache_dir.mkdir(parents=True, exist_ok=True)
    with locked(layout.root_build_lock):
        root = layout.timescale_root
        found = timescale_in(root) if root.exists() else None
        if found is not None:
            return found  # built meanwhile by a concurrent `up`
        debootstrap = shutil.which("debootstrap", path=BASE_ENV["PATH"])
        if debootstrap is None:
            fail("debootstrap is not installed; run scripts/bootstrap.sh")
        if root.exists():
            # Never deleted automatically: the data directories of every state
            # dir live inside it.
            fail(
                f"{root} exists but has no usable PostgreSQL with TimescaleDB; move it away or delete it "
                "(this deletes the local databases in it) and run `citysense services up` again"
            )
        for stale in layout.cache_dir.glob(layout.partial_root_glob):
            say(f"services: removing incomplete TimescaleDB root {stale}")
            _remove_tree(stale)
        mirror = sl.debian_mirror(_apt_sources(), os.environ.get(sl.MIRROR_VAR))
        partial = layout.partial_root(os.getpid())
        layout.debootstrap_log.parent.mkdir(parents=True, exist_ok=True)
        say(f"services: building the TimescaleDB root (one time, about a minute) from {mirror} into {root}…")
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
            fail(
                f"debootstrap failed (exit {result.returncode}); see {layout.debootstrap_log}:\n"
                f"{tail(layout.debootstrap_log)}"
            )
        if timescale_in(partial) is None:
            _remove_tree(partial)
            fail(f"debootstrap finished but {sl.ROOT_PACKAGE} is missing; see {layout.debootstrap_log}")
        partial.rename(root)
        say(f"services: TimescaleDB root ready in {time.monotonic() - started:.0f}s")
        found = timescale_in(root)
        assert found is not None
        return found


def find_or_build(layout: sl.Layout) -> PgInstall:
    system = timescale_in(Path("/"))
    if system is not None:
        return system
    root = layout.timescale_root
    found = timescale_in(root) if root.exists() else None
    return found if found is not None else build_root(layout)
