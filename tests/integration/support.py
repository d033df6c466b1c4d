"""Helpers for integration tests: run `citysense ingest` as a real process, publish with a real
client, wait for rows to appear."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiomqtt
import asyncpg
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from devenv.mosquitto import PrivateBroker, free_port
from models.migrate import apply

ROOT = Path(__file__).resolve().parents[2]
# Ingest's MQTT clients (CITYSENSE_INGEST_MQTT_CLIENT): the modules about delivery run with each.
MQTT_CLIENTS = ("paho",)
# The test session's own broker is the benchmark's (devenv.mosquitto): one implementation of
# "a real Mosquitto from deploy/mosquitto/citysense.conf on a free loopback port".
Broker = PrivateBroker


async def wait_for_services(database_url: str, mqtt: MqttEndpoint, within: float = 30) -> None:
    deadline = time.monotonic() + within
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(database_url, timeout=5)
            await conn.close()
            async with aiomqtt.Client(mqtt.host, mqtt.port, username=mqtt.username, password=mqtt.password):
                return
        except (OSError, asyncpg.PostgresError, aiomqtt.MqttError) as exc:
            last = exc
            await asyncio.sleep(0.5)
    raise RuntimeError(
        f"services not reachable ({last}); run `citysense services up` or `make test`, "
        "or set CITYSENSE_DATABASE_URL / CITYSENSE_MQTT_URL"
    )


async def clear_mqtt_session(mqtt: MqttEndpoint, client_id: str) -> None:
    """Connect with clean start and session expiry 0: the broker forgets the session."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    async with aiomqtt.Client(
        mqtt.host, mqtt.port, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=True, properties=props,
    ):
        pass


@dataclass
class IngestProcess:
    database_url: str
    mqtt_url: str
    client_id: str
    topics: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "CITYSENSE_DATABASE_URL": self.database_url,
            "CITYSENSE_MQTT_URL": self.mqtt_url,
            "CITYSENSE_INGEST_CLIENT_ID": self.client_id,
            "CITYSENSE_INGEST_TOPICS": self.topics,
            "CITYSENSE_INGEST_METRICS_PORT": "0",
            "CITYSENSE_INGEST_SESSION_EXPIRY_S": "600",
            # DEBUG: tests read ingest's per-batch "batch committed" lines
            "CITYSENSE_LOG_LEVEL": "DEBUG",
            **self.extra_env,
        }
        before = len(self.log_text()) if self.log_path.exists() else 0  # a restart appends to the same log
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citysense.cli", "ingest"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_for_log("subscribed to", timeout=30, after=before)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text()[after:]:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"ingest exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"ingest did not log {needle!r} within {timeout} s:\n{self.log_text()[-3000:]}")

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def publish_all(
    mqtt: MqttEndpoint, messages: Iterable[tuple[str, bytes]], client_id: str | None = None,
    qos: int = 1, in_flight: int = 50,
) -> int:
    """Publish at QoS 1 and wait for every PUBACK. Returns the number published."""
    n = 0
    async with aiomqtt.Client(
        mqtt.host, mqtt.port, username=mqtt.username, password=mqtt.password, identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=in_flight,
    ) as client:
        pending: set[asyncio.Task[None]] = set()
        for topic, payload in messages:
            pending.add(asyncio.create_task(client.publish(topic, payload, qos=qos)))
            n += 1
            if len(pending) >= in_flight:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.gather(*pending)
    return n


def publish_all_fast(
    mqtt: MqttEndpoint, messages: Iterable[tuple[str, bytes]], qos: int = 1
) -> int:
    """Publish with a bare paho client (much faster than aiomqtt for long streams); waits for all acks."""
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if mqtt.username:
        client.username_pw_set(mqtt.username, mqtt.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(mqtt.host, mqtt.port)
    client.loop_start()
    # Packet ids are 16 bits: more than 65535 outstanding messages would collide.
    window: collections.deque[paho.MQTTMessageInfo] = collections.deque()
    n = 0
    for topic, payload in messages:
        window.append(client.publish(topic, payload, qos=qos))
        n += 1
        if len(window) >= 20_000:
            window.popleft().wait_for_publish(timeout=60)
    for info in window:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()
    return n


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


async def count(conn: asyncpg.Connection, sql: str, *args: object) -> int:
    value: int = await conn.fetchval(sql, *args)
    return value


@dataclass
class ApiProcess:
    database_url: str
    mqtt_url: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import urllib.request

        self.port = free_port()
        env = {**os.environ, "CITYSENSE_DATABASE_URL": self.database_url,
               "CITYSENSE_MQTT_URL": self.mqtt_url, **self.extra_env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citysense.cli", "api", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"api exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"api did not answer /health:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str, settings: Settings | None = None,
                           until: int | None = None) -> AsyncIterator[str]:
    """A new database on the server, migrated with `settings` (its database_url replaced; up to migration
    `until` when given), dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()  # a test may restart the server; teardown connects afresh
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        conn = await asyncpg.connect(url)
        try:
            await apply(conn, (settings or Settings()).model_copy(update={"database_url": url}), until=until)
        finally:
            await conn.close()
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
