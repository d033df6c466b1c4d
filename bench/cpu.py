"""CPU of the whole machine during a stage, by the part that spent it: ingest, the database, the
broker, the kernel (writeback of the database's files) and the rest (the bench, its publishers,
anything else running, such as another Mosquitto).

On a machine that runs everything, the budget per message is shared: this is what shows where it
goes. Sampled from /proc every 0.25 s; a process that ends between two samples loses at most that
quarter second."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from bench.report import stat_cpu_ticks

GROUPS = ("ingest", "database", "broker", "kernel", "other")
_KERNEL_PREFIXES = ("kworker", "ksoftirqd", "kswapd", "jbd2", "kcompactd", "kdamond")


def group_of(pid: int, comm: str, ingest_pids: Collection[int], broker_pids: Collection[int] = ()) -> str:
    """`broker_pids`: the bench's own broker; any other Mosquitto on the machine is background ("other").
    Without them, every Mosquitto counts as the broker."""
    if pid in ingest_pids:
        return "ingest"
    if comm == "postgres":
        return "database"
    if comm == "mosquitto" and (pid in broker_pids or not broker_pids):
        return "broker"
    if comm.startswith(_KERNEL_PREFIXES):
        return "kernel"
    return "other"


def _comm(stat_text: str) -> str:
    return stat_text[stat_text.index("(") + 1:stat_text.rindex(")")]


Sample = tuple[str, int, int]  # command name, utime + stime (clock ticks), start time (ticks after boot)


def _start_time(stat_text: str) -> int:
    return int(stat_text[stat_text.rindex(")") + 2:].split()[19])


def snapshot(proc: Path = Path("/proc")) -> dict[int, Sample]:
    """pid -> (command name, CPU ticks, start time) of every process."""
    out: dict[int, Sample] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        out[int(entry.name)] = (_comm(text), stat_cpu_ticks(text), _start_time(text))
    return out


def by_group(first: dict[int, Sample], last: dict[int, Sample],
             ingest_pids: Collection[int], broker_pids: Collection[int] = ()) -> dict[str, int]:
    """Ticks spent between two snapshots, per group. A process is its pid and start time: a kernel
    worker renames itself with the work it does, and a pid can be reused by a new process."""
    spent = dict.fromkeys(GROUPS, 0)
    for pid, (comm, ticks, started) in last.items():
        before = first.get(pid)
        start = before[1] if before is not None and before[2] == started else 0
        spent[group_of(pid, comm, ingest_pids, broker_pids)] += max(0, ticks - start)
    return spent


class Sampler:
    """Samples /proc in a thread between `start` and `stop`; `result` per message."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self._interval = interval_s
        self._first: dict[int, Sample] = {}
        self._last: dict[int, Sample] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._seconds = 0.0
        self._t0 = 0.0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._last.update(snapshot())

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._first = snapshot()
        self._last = dict(self._first)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(snapshot())
        self._seconds = time.monotonic() - self._t0

    def result(self, messages: int, ingest_pids: Collection[int], broker_pids: Collection[int] = ()) -> dict[str, Any]:
        tick = os.sysconf("SC_CLK_TCK")
        spent = by_group(self._first, self._last, ingest_pids, broker_pids)
        per_msg = {g: round(t / tick / max(messages, 1) * 1e6, 1) for g, t in spent.items()}
        total_s = sum(spent.values()) / tick
        return {"us_per_msg": per_msg, "total_us_per_msg": round(sum(per_msg.values()), 1),
                "cores_busy": round(total_s / self._seconds, 2) if self._seconds else None,
                "cores": os.cpu_count(), "seconds": round(self._seconds, 1)}
