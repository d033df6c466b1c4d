"""Alerts on time, end to end (real Mosquitto, ingest, `citysense api`, a local webhook receiver and
an MQTT subscriber): a threshold alert follows its committed reading over the live bus, not the
check period; silence (`late`, then `silent`) fires within one check period of its threshold;
every transition reaches the webhook and the topic exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from citysense.endpoints import MqttEndpoint
from tests.integration.api.alert_receivers import subscriber, webhook_receiver
from tests.integration.api.support import ADMIN_KEY, api_process
from tests.integration.support import ApiProcess, eventually, publish_all

SECRET = "webhook-secret-for-live-tests"


def _reading(readings: dict[str, float], at: datetime | None = None) -> bytes:
    return orjson.dumps({"time": (at or datetime.now(UTC)).isoformat(), "readings": readings})


async def _subscribed(api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        async def ready() -> bool:
            return bool((await http.get("/health")).json().get("live_bus") == "subscribed")
        await eventually(ready, 30, "the API to follow the live bus")


def _count(hooks: list[tuple[bytes, str]], n: int) -> Any:
    async def check() -> bool:
        assert len(hooks) <= n, [orjson.loads(b) for b, _ in hooks]
        return len(hooks) == n
    return check


def _live(messages: list[tuple[str, bytes, bool]], sensor_id: str) -> list[tuple[str, str]]:
    return [(t.split("/")[2], orjson.loads(p)["state"]) for t, p, retained in messages
            if not retained and t.endswith(f"/{sensor_id}")]


async def test_a_threshold_alert_follows_its_reading_over_the_live_bus(
    ingest_factory: Any, mqtt_endpoint: MqttEndpoint, unique: str, database_url: str, tmp_path: Path,
) -> None:
    hooks: list[tuple[bytes, str]] = []
    messages: list[tuple[str, bytes, bool]] = []
    ingest_factory(topics="citysense/json/+")
    # A check period far longer than the test: whatever fires, the live bus triggered.
    env = {"CITYSENSE_ALERT_WEBHOOK_SECRET": SECRET, "CITYSENSE_ALERT_CHECK_S": "600"}
    sensor_id, topic = f"citysense:{unique}-air", f"citysense/json/{unique}-air"
    async with webhook_receiver(hooks) as hook_url, subscriber(mqtt_endpoint, messages):
        api = api_process(database_url, mqtt_endpoint, tmp_path, **env)
        (tmp_path / "replica").mkdir()
        replica = api_process(database_url, mqtt_endpoint, tmp_path / "replica", **env)
        try:
            await _subscribed(api)
            await _subscribed(replica)
            async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:
                rule = (await http.post("/api/v1/alerts/rules", json={
                    "name": "pm25 high", "metric": "pm25", "op": ">", "threshold": 25, "sensor": [sensor_id],
                    "webhook": hook_url})).json()
            await publish_all(mqtt_endpoint, [(topic, _reading({"pm25": 40.0}))])
            await eventually(_count(hooks, 1), 20, "the firing webhook")
            # Still above 25 - 5 %: nothing new.
            await publish_all(mqtt_endpoint, [(topic, _reading({"pm25": 24.0}))])
            await asyncio.sleep(2.0)
            assert len(hooks) == 1
            # Below the margin in two consecutive evaluations: resolved once.
            await publish_all(mqtt_endpoint, [(topic, _reading({"pm25": 10.0}))])
            await asyncio.sleep(1.0)
            await publish_all(mqtt_endpoint, [(topic, _reading({"pm25": 9.0}))])
            await eventually(_count(hooks, 2), 20, "the resolved webhook")
            await asyncio.sleep(2.0)
        finally:
            api.stop()
            replica.stop()
    bodies = [orjson.loads(b) for b, _ in hooks]
    assert [(b["rule"], b["state"], b["value"]) for b in bodies] == [
        ("pm25 high", "firing", 40.0), ("pm25 high", "resolved", 9.0)]
    assert _live(messages, sensor_id) == [(str(rule["id"]), "firing"), (str(rule["id"]), "resolved")]


async def test_silence_fires_within_one_check_period_of_its_threshold(
    ingest_factory: Any, mqtt_endpoint: MqttEndpoint, unique: str, database_url: str, tmp_path: Path,
) -> None:
    hooks: list[tuple[bytes, str]] = []
    messages: list[tuple[str, bytes, bool]] = []
    ingest_factory(topics="citysense/json/+")
    check_s, interval_s = 1.0, 1.0
    env = {"CITYSENSE_ALERT_WEBHOOK_SECRET": SECRET, "CITYSENSE_ALERT_CHECK_S": str(check_s)}
    sensor_id, topic = f"citysense:{unique}-meter", f"citysense/json/{unique}-meter"
    async with webhook_receiver(hooks) as hook_url, subscriber(mqtt_endpoint, messages):
        api = api_process(database_url, mqtt_endpoint, tmp_path, **env)
        try:
            await _subscribed(api)
            async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:
                rules = {p: (await http.post("/api/v1/alerts/rules", json={
                    "name": f"meter {p}", "problem": p, "sensor": [sensor_id], "webhook": hook_url})).json()["id"]
                    for p in ("late", "silent")}
            # Six readings a second apart, the last one now; then the meter says nothing.
            last = datetime.now(UTC)
            await publish_all(mqtt_endpoint, [
                (topic, _reading({"power": 100.0 + i}, last - timedelta(seconds=interval_s * (5 - i))))
                for i in range(6)])
            # late after 3 intervals; then silent after 20, which ends late (a sensor is one or the other).
            await eventually(_count(hooks, 3), 60, "late firing, silent firing, late resolved")
            # It reports again, every half second: silent resolves, and it never falls late again.
            done = asyncio.Event()

            async def report() -> None:
                while not done.is_set():
                    await publish_all(mqtt_endpoint, [(topic, _reading({"power": 150.0}))])
                    await asyncio.sleep(0.5)

            reporter = asyncio.create_task(report())
            try:
                await eventually(_count(hooks, 4), 30, "silent resolved")
                await asyncio.sleep(2 * check_s)
            finally:
                api.stop()
                done.set()
                await reporter
        finally:
            api.stop()
    bodies = [orjson.loads(b) for b, _ in hooks]
    # Silent fires in the check that finds late gone; late resolves one check later (hysteresis).
    assert [(b["rule"], b["state"]) for b in bodies] == [
        ("meter late", "firing"), ("meter silent", "firing"), ("meter late", "resolved"), ("meter silent", "resolved")]
    fired = {b["rule"]: datetime.fromisoformat(b["time"]) for b in bodies if b["state"] == "firing"}
    # Judged when the threshold passed: never before it, and at most one check period (and the
    # time one evaluation takes) after it.
    for rule, threshold_s in (("meter late", 3 * interval_s), ("meter silent", 20 * interval_s)):
        after = (fired[rule] - last).total_seconds() - threshold_s
        assert 0 < after <= check_s + 1.0, (rule, after)
    assert _live(messages, sensor_id) == [
        (str(rules["late"]), "firing"), (str(rules["silent"]), "firing"), (str(rules["late"]), "resolved"),
        (str(rules["silent"]), "resolved")]
