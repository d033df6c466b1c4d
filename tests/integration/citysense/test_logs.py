"""CITYSENSE_LOG_FORMAT=json against real processes: every line a real ingest and a real API write
parses as one JSON object with the stable fields, the context rides along, the per-batch lines add
up to what the database holds, and the API's uvicorn loggers (access log included) follow
CITYSENSE_LOG_LEVEL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from citysense.endpoints import MqttEndpoint
from simulators.api_sources import AreaSource
from simulators.api_standins import AreaStandIn
from simulators.fleet import load_fleet
from tests.integration.api.support import api_process
from tests.integration.ingest.pollers.standins import poll, poll_env, serving
from tests.integration.ingest.test_ingest import json_stream
from tests.integration.support import count, eventually, publish_all_fast

FIELDS = {"time", "level", "logger", "message"}
JSON = {"CITYSENSE_LOG_FORMAT": "json"}


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    for obj in lines:
        assert isinstance(obj, dict), obj
        assert obj.keys() >= FIELDS, obj
        assert obj["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, obj
    return lines


async def test_ingest_logs_json_lines_that_add_up(
    ingest_factory: Any, mqtt_endpoint: MqttEndpoint, db: asyncpg.Connection, unique: str,
) -> None:
    ingest = ingest_factory(topics="citysense/json/+", CITYSENSE_LOG_LEVEL="DEBUG",
                            CITYSENSE_INGEST_LOG_SUMMARY_S="0.5", **JSON)
    first, second = json_stream(unique, 300), json_stream(unique, 300, start=300)
    await asyncio.to_thread(publish_all_fast, mqtt_endpoint, [*first, (f"citysense/json/{unique}-bad", b"{nope")])
    await asyncio.sleep(0.7)  # the summary period passes, so the next batch closes it
    await asyncio.to_thread(publish_all_fast, mqtt_endpoint, second)
    stored = "SELECT count(*) FROM readings WHERE sensor_id LIKE '%' || $1 || '%'"
    await eventually(lambda: _equals(db, stored, unique, 2 * 600), 30, "all readings stored")
    assert ingest.terminate() == 0

    lines = json_lines(ingest.log_text())
    batches = [ln for ln in lines if ln["message"].startswith("batch committed")]
    assert batches
    assert all(ln["level"] == "DEBUG" and ln["logger"] == "citysense.ingest" for ln in batches)
    assert sum(ln["rows"] for ln in batches) == await count(db, stored, unique)
    assert sum(ln["rejected"] for ln in batches) == 1
    rejected = [ln for ln in lines if ln["message"].startswith("rejected message")]
    assert [ln["topic"] for ln in rejected] == [f"citysense/json/{unique}-bad"]
    assert all(ln["batch_size"] >= ln["rows"] for ln in batches)
    summaries = [ln for ln in lines if ln["message"].startswith("committed in the last")]
    assert summaries
    assert all(ln["level"] == "INFO" for ln in summaries)
    assert 0 < sum(ln["rows"] for ln in summaries) <= sum(ln["rows"] for ln in batches)
    assert sum(ln["batches"] for ln in summaries) <= len(batches)


async def _equals(db: asyncpg.Connection, sql: str, arg: str, want: int) -> bool:
    return await count(db, sql, arg) == want


def test_api_logs_json_and_honours_the_level(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> None:
    for level in ("INFO", "WARNING"):
        (tmp_path / level).mkdir()
        api = api_process(database_url, mqtt_endpoint, tmp_path / level, CITYSENSE_LOG_LEVEL=level,
                          CITYSENSE_PUBLIC_READ="true", **JSON)
        try:
            assert httpx.get(f"{api.url}/api/v1/sensors", timeout=10).status_code == 200
            assert httpx.get(f"{api.url}/api/v1/sensors/x:none/readings", timeout=10).status_code in (200, 404, 422)
            time.sleep(0.3)
        finally:
            api.stop()
        lines = json_lines(api.log_path.read_text())
        access = [ln for ln in lines if ln["logger"] == "uvicorn.access"]
        if level == "INFO":
            assert any("/api/v1/sensors" in ln["message"] for ln in access), lines
            assert any(ln["logger"] == "uvicorn.error" for ln in lines)  # uvicorn's own start lines
        else:
            assert not access, access
            assert all(ln["level"] != "INFO" for ln in lines), lines


def test_poller_logs_json(database_url: str, mqtt_url: str, ingest_factory: Any, tmp_path: Path) -> None:
    """A clean pass, then one the stand-in answers 500 (`--once` then exits 1): JSON lines both times."""
    ingest_factory("airrohr/+")  # the poller publishes only where a subscriber takes it
    for failures, code in ((0, 0), (1, 1)):
        standin = AreaStandIn(AreaSource(load_fleet()).records, fail_next=[500] * failures)
        with serving(standin.app()) as url:
            env = poll_env(database_url, mqtt_url, sensor_community_url=url, log_format="json")
            done = poll(["sensor-community", "--once"], env, tmp_path / "poll.log")
        assert done.returncode == code, done.stderr
        lines = json_lines(done.stdout + done.stderr)
        assert any(ln["logger"] == "citysense.poll" and ln["level"] == "INFO" for ln in lines), lines
        failed = [ln for ln in lines if ln["level"] == "WARNING" and "HTTP 500" in ln["message"]]
        assert len(failed) == failures, lines
