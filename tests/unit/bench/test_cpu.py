"""Who spent the machine's CPU during a bench stage: grouping and differencing /proc snapshots."""

from __future__ import annotations

import os

import pytest

from bench.cpu import GROUPS, Sampler, by_group, group_of, snapshot


@pytest.mark.parametrize(
    ("pid", "comm", "group"),
    [
        (10, "python3", "ingest"),  # an ingest pid, whatever its name
        (11, "postgres", "database"),
        (12, "mosquitto", "broker"),
        (13, "kworker/u8:4-writeback", "kernel"),
        (14, "ksoftirqd/0", "kernel"),
        (15, "python3", "other"),  # the bench and its publishers
        (16, "postgres-helper", "other"),
    ],
)
def test_group_of(pid: int, comm: str, group: str) -> None:
    assert group_of(pid, comm, ingest_pids={10}) == group


def test_only_the_benchs_own_broker_is_the_broker_when_its_pid_is_known() -> None:
    # A second Mosquitto (the services' one, with sessions of its own) is background load.
    assert group_of(12, "mosquitto", ingest_pids=(), broker_pids=[12]) == "broker"
    assert group_of(13, "mosquitto", ingest_pids=(), broker_pids=[12]) == "other"


def test_by_group_counts_new_processes_from_zero_and_a_reused_pid_as_new() -> None:
    first = {1: ("postgres", 100, 10), 2: ("mosquitto", 50, 10), 3: ("postgres", 7, 10), 6: ("kworker/0:1-mm", 40, 5)}
    last = {1: ("postgres", 160, 10), 2: ("mosquitto", 55, 10), 3: ("python3", 4, 99), 4: ("postgres", 30, 99),
            5: ("python3", 9, 99), 6: ("kworker/0:1-events", 43, 5)}  # a kernel worker renamed by its work
    spent = by_group(first, last, ingest_pids={5})
    assert spent == {"ingest": 9, "database": 60 + 30, "broker": 5, "kernel": 3, "other": 4}
    assert set(spent) == set(GROUPS)


def test_snapshot_sees_this_process_and_the_sampler_its_own_cpu() -> None:
    assert os.getpid() in snapshot()
    s = Sampler(interval_s=0.01)
    s.start()
    x = 0
    for i in range(3_000_000):  # burn some CPU in this process (counted as ingest here)
        x += i
    s.stop()
    result = s.result(messages=1000, ingest_pids=[os.getpid()])
    assert result["us_per_msg"]["ingest"] > 0
    assert result["cores_busy"] is not None
    assert result["cores_busy"] > 0
