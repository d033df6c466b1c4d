"""The alert evaluator and its notifier, inside the API process (no extra service).

One evaluator at a time across API replicas: the process holding a PostgreSQL advisory lock
evaluates every rule every CITYSENSE_ALERT_CHECK_S (silence and the other health problems are
seen within one period) and delivers; the others wait for the lock. Between checks, the live
bus wakes it for the threshold rules on a metric that just arrived: committed readings are
republished after the commit, so a threshold alert follows its reading within a second or so. The state
of each (rule, sensor) and the notifications a transition owes are written in one transaction
(api/queries/alerts.py), so a restart resumes where the last evaluator stopped: nothing that
was sent is sent again, nothing owed is forgotten. Delivery runs as its own task: a slow or
failing webhook is retried with backoff and never holds up evaluation, ingest or requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiomqtt
import asyncpg
import httpx

from api.analysis import alerts as logic
from api.analysis.health import Health
from api.answers.health import fleet_health
from api.fleet_facts import FleetFacts
from api.live.bus import Readings
from api.queries import alerts as q
from citysense.backoff import backoff
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings

log = logging.getLogger("citysense.api.alerts")

# pg_advisory_lock key: "citysense alerts" as a number no other part of citysense uses.
LOCK_KEY = 0x6369747973656E73
RETRY_CAP_S = 300.0
# At most this often a bus-triggered pass: a busy bus batches its arrivals instead of running
# the threshold queries for every message.
BUS_PASS_GAP_S = 0.25


class Arrivals:
    """The metrics of committed readings since the evaluator last looked (a live bus listener)."""

    def __init__(self) -> None:
        self.metrics: set[str] = set()
        self.event = asyncio.Event()

    def add(self, readings: Readings) -> None:
        self.metrics.update(m for _, _, m, _ in readings)
        self.event.set()

    def take(self) -> set[str]:
        metrics, self.metrics = self.metrics, set()
        self.event.clear()
        return metrics


@dataclasses.dataclass(frozen=True, slots=True)
class HealthSource:
    """What problem rules judge by: fleet health's facts, and whether the live bus keeps them current."""

    facts: FleetFacts
    live: Callable[[], bool]


async def _observations(conn: asyncpg.Connection, settings: Settings, rule: asyncpg.Record, now: datetime,
                        firing: set[str], health: dict[str, tuple[bool, str]] | None
                        ) -> dict[str, logic.Observation]:
    seen: dict[str, logic.Observation] = {}
    if rule["problem"] is not None:
        assert health is not None
        for sensor_id in await q.covered(conn, rule):
            holds, detail = health.get(sensor_id, (False, ""))
            seen[sensor_id] = logic.Observation(holds, None, detail)
        return seen
    for sensor_id, value in (await q.threshold_values(conn, rule, now)).items():
        holds = logic.threshold_holds(rule["op"], value, rule["threshold"], sensor_id in firing)
        what = f"{rule['agg'] or 'avg'} over {rule['window']:g} s" if rule["window"] else "latest"
        seen[sensor_id] = logic.Observation(
            holds, value, f"{rule['metric']} {what} {value:g} {rule['op']} {rule['threshold']:g}" if holds
            else f"{rule['metric']} {what} {value:g}")
    return seen


def _problems(judged: list[Health], kind: str) -> dict[str, tuple[bool, str]]:
    out: dict[str, tuple[bool, str]] = {}
    for h in judged:
        found = [p for p in h.problems if p.kind.value == kind]
        out[h.sensor_id] = (bool(found), found[0].detail if found else "")
    return out


async def evaluate_once(pool: asyncpg.Pool, settings: Settings, now: datetime, health: HealthSource,
                        arrived: set[str] | None = None) -> int:
    """One check of every rule, or (`arrived`) of the threshold rules on those metrics only;
    returns the transitions it stored."""
    stored = 0
    async with pool.acquire() as conn:
        rules = await q.rules(conn)
        if arrived is not None:
            rules = [r for r in rules if r["problem"] is None and r["metric"] in arrived]
        health_by_kind: dict[str, dict[str, tuple[bool, str]]] = {}
        # The whole fleet's health once per check, whatever the number of problem rules.
        judged = (await fleet_health(conn, health.facts, now, health.live())
                  if any(r["problem"] for r in rules) else [])
        for rule in rules:
            prev = {r["sensor_id"]: logic.State(r["state"], r["since"], r["value"], r["detail"], r["clear_runs"])
                    for r in await q.states(conn, rule["id"])}
            problems = None
            if rule["problem"] is not None:
                if rule["problem"] not in health_by_kind:
                    health_by_kind[rule["problem"]] = _problems(judged, rule["problem"])
                problems = health_by_kind[rule["problem"]]
            firing = {s for s, st in prev.items() if st.state == "firing"}
            seen = await _observations(conn, settings, rule, now, firing, problems)
            upserts: list[tuple[str, str, datetime, float | None, str, int]] = []
            deletes: list[str] = []
            notes: list[tuple[str, str, str, str | None]] = []
            # A sensor with a state but no observation now (its rule's filters or its data moved
            # on) counts as off: it resolves through the same hysteresis.
            for sensor_id in set(seen) | set(prev):
                obs = seen.get(sensor_id, logic.Observation(False, None, "no longer observed"))
                new, transition = logic.step(prev.get(sensor_id), obs, now, rule["for_s"])
                if new is None:
                    if sensor_id in prev:
                        deletes.append(sensor_id)
                elif new != prev.get(sensor_id):
                    upserts.append((sensor_id, new.state, new.since, new.value, new.detail, new.clear_runs))
                if transition is not None:
                    notes.append((sensor_id, transition.state,
                                  logic.body(rule["name"], sensor_id, transition).decode(), rule["webhook"]))
            if upserts or deletes or notes:
                await q.store_transitions(conn, rule["id"], upserts, deletes, notes)
                stored += len(notes)
    return stored


async def _deliver_one(http: httpx.AsyncClient, mqtt: aiomqtt.Client | None, secret: str,
                       n: asyncpg.Record) -> tuple[bool, bool]:
    webhook_done, mqtt_done = n["webhook_done"], n["mqtt_done"]
    payload = n["body"].encode()
    if not webhook_done:
        try:
            r = await http.post(n["webhook"], content=payload, headers={
                "Content-Type": "application/json", "X-Citysense-Signature": logic.signature(secret, payload)})
            webhook_done = r.is_success
            if not webhook_done:
                log.warning("alert webhook %s answered %s", n["webhook"], r.status_code)
        except httpx.HTTPError as exc:
            log.warning("alert webhook %s failed: %s", n["webhook"], exc)
    if not mqtt_done and mqtt is not None:
        with contextlib.suppress(aiomqtt.MqttError):
            await mqtt.publish(logic.topic(n["rule_id"], n["sensor_id"]), payload, qos=1, retain=True)
            mqtt_done = True
    return webhook_done, mqtt_done


async def deliver(pool: asyncpg.Pool, settings: Settings, endpoint: MqttEndpoint, wake: asyncio.Event) -> None:
    """Send what is owed, forever: the webhook signed, the MQTT topic retained; retry with backoff."""
    delays = backoff()
    async with httpx.AsyncClient(timeout=settings.alert_webhook_timeout_s) as http:
        while True:
            try:
                async with aiomqtt.Client(
                    endpoint.host, endpoint.port, username=endpoint.username, password=endpoint.password,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    tls_context=ssl.create_default_context() if endpoint.tls else None,
                ) as mqtt:
                    delays = backoff()
                    while True:
                        async with pool.acquire() as conn:
                            due = await q.due_notifications(conn, datetime.now(UTC))
                        for n in due:
                            webhook_done, mqtt_done = await _deliver_one(http, mqtt, settings.alert_webhook_secret, n)
                            retry = None
                            if not (webhook_done and mqtt_done):
                                retry = datetime.now(UTC) + timedelta(seconds=min(RETRY_CAP_S, 2.0 ** n["attempts"]))
                            async with pool.acquire() as conn:
                                await q.mark(conn, n["id"], webhook_done, mqtt_done, retry)
                        wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), timeout=1.0)
            except (aiomqtt.MqttError, OSError, asyncpg.PostgresError) as exc:
                log.warning("alert delivery interrupted (%s); retrying", exc)
                await asyncio.sleep(next(delays))


async def _evaluate(pool: asyncpg.Pool, settings: Settings, health: HealthSource, arrivals: Arrivals | None,
                    wake: asyncio.Event) -> None:
    """Every rule each check period; between checks, the threshold rules of arriving metrics."""
    next_full = time.monotonic()
    while True:
        if time.monotonic() >= next_full:
            if arrivals is not None:
                arrivals.take()  # this pass covers them
            next_full = time.monotonic() + settings.alert_check_s
            arrived = None
        else:
            arrived = arrivals.take() if arrivals is not None else set()
        if (arrived is None or arrived) and await evaluate_once(pool, settings, datetime.now(UTC), health, arrived):
            wake.set()
        if arrivals is None:
            await asyncio.sleep(max(0.0, next_full - time.monotonic()))
            continue
        await asyncio.sleep(BUS_PASS_GAP_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.event.wait(), timeout=max(0.0, next_full - time.monotonic()))


async def run(pool: asyncpg.Pool, settings: Settings, endpoint: MqttEndpoint, health: HealthSource,
              arrivals: Arrivals | None) -> None:
    """Wait for the evaluator lock, then evaluate (each check period, and on `arrivals` from the
    live bus) and deliver, until cancelled."""
    delays = backoff()
    while True:
        try:
            # A connection of its own, not the pool's: the lock lives as long as the session, and
            # holding it must not take a slot from requests.
            lock_conn = await asyncpg.connect(settings.database_url)
            try:
                # Waits in PostgreSQL until the evaluating replica's session ends.
                await lock_conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
                log.info("this process evaluates the alert rules")
                delays = backoff()
                wake = asyncio.Event()
                sender = asyncio.create_task(deliver(pool, settings, endpoint, wake), name="alert-delivery")
                try:
                    await _evaluate(pool, settings, health, arrivals, wake)
                finally:
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sender
            finally:
                with contextlib.suppress(Exception):
                    await lock_conn.close()  # ends the session: the lock goes with it
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("alert evaluation interrupted (%s); retrying", exc)
            await asyncio.sleep(next(delays))

