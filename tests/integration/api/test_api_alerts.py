"""Alerts end to end: rules through the admin API, readings through real Mosquitto and ingest, the
evaluator inside a real `citysense api`, notifications to a real local webhook receiver (signed)
and a real MQTT subscriber; exactly one notification per transition, none again after the API
(and so the evaluator) restarts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson

from citysense.endpoints import MqttEndpoint
from tests.integration.api.alert_receivers import subscriber, webhook_receiver
from tests.integration.api.support import ADMIN_KEY, api_process
from tests.integration.support import eventually, publish_all

SECRET = "webhook-secret-for-tests"
CHECK_S = 1.0


def _reading(readings: dict[str, float]) -> bytes:
    return orjson.dumps({"time": datetime.now(UTC).isoformat(), "readings": readings})


async def test_each_transition_is_notified_once_and_a_restart_sends_nothing_again(
    db: asyncpg.Connection, ingest_factory, mqtt_endpoint: MqttEndpoint, unique: str, database_url: str,
    tmp_path: Path,
) -> None:
    hooks: list[tuple[bytes, str]] = []
    messages: list[tuple[str, bytes, bool]] = []
    ingest_factory(topics="citysense/json/+")
    env = {"CITYSENSE_ALERT_WEBHOOK_SECRET": SECRET, "CITYSENSE_ALERT_CHECK_S": str(CHECK_S)}
    bin_id = f"citysense:{unique}-bin"
    topic = f"citysense/json/{unique}-bin"
    async with webhook_receiver(hooks) as hook_url, subscriber(mqtt_endpoint, messages):
        # Two API replicas: one evaluator at a time, so still one notification per transition.
        api = api_process(database_url, mqtt_endpoint, tmp_path, **env)
        (tmp_path / "replica").mkdir()
        replica = api_process(database_url, mqtt_endpoint, tmp_path / "replica", **env)
        try:
            async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:
                full = (await http.post("/api/v1/alerts/rules", json={
                    "name": "bin full", "metric": "fill_level", "op": ">=", "threshold": 90, "sensor": [bin_id],
                    "webhook": hook_url})).json()
                battery = (await http.post("/api/v1/alerts/rules", json={
                    "name": "battery low", "problem": "low_battery", "sensor": [bin_id], "webhook": hook_url})).json()
                assert {r["id"] for r in (await http.get("/api/v1/alerts/rules")).json()["data"]} >= {
                    full["id"], battery["id"]}
                refused = await http.post("/api/v1/alerts/rules", json={"name": "x", "metric": "fill_level"})
                assert refused.status_code == 422

                # Fill the bin and drain its battery: both rules fire, once each.
                await publish_all(mqtt_endpoint, [(topic, _reading({"fill_level": 95.0, "battery": 10.0}))])
                await eventually(lambda: _n(hooks, 2), 20, "two firing webhooks")
                firing_alerts = (await http.get("/api/v1/alerts")).json()["data"]
                assert {(a["rule_id"], a["sensor_id"]) for a in firing_alerts} == {
                    (full["id"], bin_id), (battery["id"], bin_id)}
                # More readings that keep the condition (93 is above 90 - 5 %) change nothing.
                await publish_all(mqtt_endpoint, [(topic, _reading({"fill_level": 93.0, "battery": 9.0}))])
                await asyncio.sleep(4 * CHECK_S)
        finally:
            api.stop()
            replica.stop()

        # The evaluator restarts with the API: nothing is sent again.
        api = api_process(database_url, mqtt_endpoint, tmp_path, **env)
        try:
            await asyncio.sleep(5 * CHECK_S)
            assert len(hooks) == 2
            # Empty the bin, change the battery: both resolve, once each.
            await publish_all(mqtt_endpoint, [(topic, _reading({"fill_level": 3.0, "battery": 100.0}))])
            await eventually(lambda: _n(hooks, 4), 20, "two resolved webhooks")
            await asyncio.sleep(4 * CHECK_S)
            async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": ADMIN_KEY}) as http:
                assert (await http.get("/api/v1/alerts")).json()["data"] == []
        finally:
            api.stop()
        await asyncio.sleep(0.5)

    bodies = [orjson.loads(b) for b, _ in hooks]
    for raw, sig in hooks:
        assert sig == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert sorted((b["rule"], b["state"]) for b in bodies) == [
        ("battery low", "firing"), ("battery low", "resolved"), ("bin full", "firing"), ("bin full", "resolved")]
    assert all(b["sensor_id"] == bin_id for b in bodies)
    assert next(b for b in bodies if b["rule"] == "bin full" and b["state"] == "firing")["value"] == 95.0
    # The MQTT topic saw the same four transitions, once each, on the rule's and sensor's topic.
    live = [(t, orjson.loads(p)["state"]) for t, p, retained in messages if not retained]
    assert sorted(live) == sorted([
        (f"citysense/alerts/{full['id']}/{bin_id}", "firing"), (f"citysense/alerts/{full['id']}/{bin_id}", "resolved"),
        (f"citysense/alerts/{battery['id']}/{bin_id}", "firing"),
        (f"citysense/alerts/{battery['id']}/{bin_id}", "resolved")])
    # Retained: a new subscriber learns the current state.
    late: list[tuple[str, bytes, bool]] = []
    async with subscriber(mqtt_endpoint, late):
        await asyncio.sleep(1.0)
    assert {(t, orjson.loads(p)["state"]) for t, p, r in late if r and t.endswith(f"/{bin_id}")
            and t.split("/")[2] in (str(full["id"]), str(battery["id"]))} == {
        (f"citysense/alerts/{full['id']}/{bin_id}", "resolved"),
        (f"citysense/alerts/{battery['id']}/{bin_id}", "resolved")}


async def _n(hooks: list[tuple[bytes, str]], n: int) -> bool:
    assert len(hooks) <= n, [orjson.loads(b) for b, _ in hooks]
    return len(hooks) == n
