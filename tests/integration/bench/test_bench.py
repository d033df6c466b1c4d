"""`citysense bench --quick` end to end: the real command in a process of its own, against the real
TimescaleDB (CITYSENSE_DATABASE_URL or the local one) and a private Mosquitto it starts itself.

Checks the shape of the report and that every stage's verification passed (the database held
exactly the published readings), never the speed: the figures depend on the machine."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from citysense.endpoints import LOCAL_DATABASE_URL
from tests.integration.support import scratch_database

ROOT = Path(__file__).resolve().parents[3]
SERVER_URL = os.environ.get("CITYSENSE_DATABASE_URL", LOCAL_DATABASE_URL)
STAGES = (
    "receive_ceiling_json", "receive_ceiling_decoders", "naive_baseline", "ingest_1_replica_live",
    "ingest_1_replica_backlog", "ingest_replicas_live", "ingest_replicas_backlog", "latency_half_rate", "writer",
)
TARGETS = ("ingest_vs_ceiling", "ingest_msg_per_s", "ingest_vs_naive", "p99_latency_half_rate",
           "peak_rss_1m_backlog", "raw_bytes_per_reading", "writer_cpu_vs_legacy", "steady_writer_cpu_vs_legacy")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    if not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("the bench starts its own Mosquitto: /usr/sbin/mosquitto is needed")
    env = {**os.environ, "CITYSENSE_DATABASE_URL": SERVER_URL,
           "CITYSENSE_CACHE_DIR": str(tmp_path_factory.mktemp("bench-cache"))}
    proc = subprocess.run(
        [sys.executable, "-m", "citysense.cli", "bench", "--quick", "--api"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=900,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bench printed no JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.returncode, report, proc.stderr


def test_report_has_every_section(quick_run: tuple[int, dict[str, Any], str]) -> None:
    _, report, stderr = quick_run
    assert report["quick"] is True
    for key in ("cpu_model", "cores", "ram_gb", "kernel", "python", "paho_mqtt", "mosquitto", "timescaledb",
                "postgresql"):
        assert report["machine"].get(key) not in (None, "", "?"), key
    assert report["config"]["messages"] == 20_000
    assert report["message_set"]["messages"] >= 20_000
    assert report["message_set"]["readings_per_message"] > 3
    assert set(report["stages"]) == set(STAGES)
    assert [t["name"] for t in report["targets"]] == list(TARGETS)
    assert "api" in report
    assert "latency" in report["api"]
    push = report["api"]["push"]
    assert "error" not in push, push
    assert push["payloads_accepted"] > 0
    assert push["answers"] == {"202": push["payloads_accepted"]}
    assert push["readings_stored"] == push["readings_announced"] > 0  # every reading a 202 announced, once
    for name, stage in report["stages"].items():
        assert "verification" in stage, name
    # the table for people goes to stderr
    assert "receive ceiling (paho, orjson)" in stderr
    assert "targets" in stderr


def test_every_stage_verified(quick_run: tuple[int, dict[str, Any], str]) -> None:
    code, report, stderr = quick_run
    failed = {k: v.get("error") or v["verification"] for k, v in report["stages"].items()
              if not v["verification"].get("ok")}
    assert not failed, f"{failed}\n{stderr[-3000:]}"
    assert report["verification"]["ok"] is True
    assert code == 0
    for name in ("ingest_1_replica_backlog", "ingest_replicas_backlog", "latency_half_rate"):
        stage = report["stages"][name]
        assert stage["msg_per_s"] > 0
        assert stage["readings_per_s"] > stage["msg_per_s"]
        assert all(rss and rss > 0 for rss in stage["peak_rss_mb"])
        assert stage["verification"]["missing"] == 0
        assert stage["verification"]["extra"] == 0
        machine = stage["machine_cpu"]["us_per_msg"]
        assert machine["ingest"] > 0
        if not os.environ.get("CITYSENSE_DATABASE_URL"):  # the local server runs on this machine
            assert machine["database"] > 0
    writer = report["stages"]["writer"]
    assert writer["verification"]["mix"]["expected_rows"] > 0
    assert writer["verification"]["steady_fleet"]["expected_rows"] > 0
    # both models' raw tables measured on the same rows
    assert writer["storage"]["series"]["rows"] == writer["storage"]["legacy"]["rows"] > 0
    assert 0 < writer["storage"]["series"]["bytes_per_reading"] < writer["storage"]["legacy"]["bytes_per_reading"]
    if not os.environ.get("CITYSENSE_DATABASE_URL"):
        assert writer["writer"]["backend_cpu_us_per_reading"] > 0
        assert writer["legacy_writer"]["backend_cpu_us_per_reading"] > 0
        assert writer["steady_fleet"]["writer"]["backend_cpu_us_per_reading"] > 0
    assert report["stages"]["latency_half_rate"]["latency"]["p99_ms"] > 0
    assert report["stages"]["ingest_replicas_backlog"]["replicas"] == 2


async def test_sensorthings_stage_pages_through_every_observation() -> None:
    """`citysense bench --quick --stages sta`: 14 days of one-minute pm25, paged through $top=1000.
    Against a database of its own (the bench adds `_bench_sta` to its name), so a year left by an
    earlier full run is not what gets paged."""
    async with scratch_database(SERVER_URL, "citysense_sta") as url:
        env = {**os.environ, "CITYSENSE_DATABASE_URL": url}
        try:
            proc = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "citysense.cli", "bench", "--quick", "--stages", "sta"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            sta = json.loads(proc.stdout)["sensorthings"]
        finally:
            bench_db = f'{urlsplit(url).path.lstrip("/")}_bench_sta'
            admin = await asyncpg.connect(url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
            finally:
                await admin.close()
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "error" not in sta, sta
    minutes = 14 * 1440
    latency = sta["latency"]
    assert latency["all"]["observations"] == minutes
    assert latency["all"]["pages"] == math.ceil(minutes / 1000)
    assert latency["selected_time_result"]["observations"] == minutes
    assert 0 < latency["filtered_result_gt_10"]["observations"] < minutes
    assert latency["reference_sensor_readings_1000"]["n"] == 200
    assert isinstance(sta["targets_met"], bool)
