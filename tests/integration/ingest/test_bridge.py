"""The Mosquitto bridge from a LoRaWAN network server (deploy/mosquitto/bridge-ttn.conf.template,
filled by `citysense bridge-config ttn`): two real Mosquittos, one playing The Things Stack with
a TLS listener and a password, the other the shipped broker config plus the generated bridge,
with `citysense ingest` on it. Uplinks published at the network server arrive exactly once,
across restarts of either broker."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import orjson
import paho.mqtt.client as paho
import pytest
import trustme

from devenv.layout import render_mosquitto_conf
from devenv.mosquitto import MOSQUITTO, TEMPLATE, Mosquitto
from tests.integration.support import ROOT, IngestProcess, count, eventually, free_port

pytestmark = pytest.mark.integration

APP = "leuven-air@ttn"
API_KEY = "NNSXS.TESTKEY0123456789ABCDEFGHIJ"
DEVICES = ("eui-24e124136c220001", "eui-24e124136c220002")


def _network_server(d: Path) -> Mosquitto:
    """A Mosquitto standing in for The Things Stack: TLS only, no anonymous clients, persistent."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), APP, API_KEY], check=True,
                   capture_output=True)
    (d / "data").mkdir()
    port = free_port()
    return Mosquitto(d, port=port, conf=(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\ncafile {d / 'ca.pem'}\n"
        f"certfile {d / 'server.pem'}\nkeyfile {d / 'server.key'}\nallow_anonymous false\n"
        f"password_file {d / 'passwd'}\npersistence true\npersistence_location {d / 'data'}/\n"
        f"log_dest file {d / 'mosquitto.log'}\nconnection_messages true\n"))


def _bridge_conf(port: int, ca: Path, client_id: str) -> str:
    env = {**os.environ, "CITYSENSE_BRIDGE_TTN_ADDRESS": f"localhost:{port}", "CITYSENSE_BRIDGE_TTN_USERNAME": APP,
           "CITYSENSE_BRIDGE_TTN_API_KEY": API_KEY, "CITYSENSE_BRIDGE_TTN_CAFILE": str(ca),
           "CITYSENSE_BRIDGE_TTN_CLIENT_ID": client_id}
    done = subprocess.run([sys.executable, "-m", "citysense.cli", "bridge-config", "ttn"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def brokers(tmp_path: Path, unique: str) -> Iterator[tuple[Mosquitto, Mosquitto]]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("needs Mosquitto")
    (tmp_path / "ns").mkdir()
    remote = _network_server(tmp_path / "ns")
    local_dir = tmp_path / "local"
    (local_dir / "data").mkdir(parents=True)
    port = free_port()
    conf = render_mosquitto_conf(TEMPLATE.read_text(), port=port, persistence_dir=local_dir / "data",
                                 pid_file=local_dir / "mosquitto.pid", log_file=local_dir / "mosquitto.log",
                                 user=getpass.getuser())
    conf += "\n" + _bridge_conf(remote.port, tmp_path / "ns" / "ca.pem", f"bridge-{unique}")
    local = Mosquitto(local_dir, conf, port)
    remote.start()
    local.start()
    try:
        yield remote, local
    finally:
        local.stop()
        remote.stop()


def _uplink(i: int) -> tuple[str, bytes]:
    device = DEVICES[i % len(DEVICES)]
    doc = {"end_device_ids": {"device_id": device, "application_ids": {"application_id": APP.split("@")[0]}},
           "received_at": f"2026-11-30T10:{i // 60:02d}:{i % 60:02d}.000Z",
           "uplink_message": {"f_port": 85, "decoded_payload": {"temperature": 20 + i / 100, "humidity": 50}}}
    return f"v3/{APP}/devices/{device}/up", orjson.dumps(doc)


def _publish(remote: Mosquitto, indices: range) -> None:
    """As the network server does: QoS 1, over TLS, every PUBACK awaited."""
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.tls_set(ca_certs=str(remote.dir / "ca.pem"))
    client.username_pw_set(APP, API_KEY)
    client.connect("localhost", remote.port)
    client.loop_start()
    try:
        infos = [client.publish(*_uplink(i), qos=1) for i in indices]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


async def test_uplinks_arrive_exactly_once_across_restarts_of_either_broker(
    db: asyncpg.Connection, database_url: str, brokers: tuple[Mosquitto, Mosquitto], unique: str, tmp_path: Path,
) -> None:
    remote, local = brokers
    ingest = IngestProcess(database_url=database_url, mqtt_url=local.url, client_id=f"bridge-ingest-{unique}",
                           topics="v3/+/devices/+/up", log_path=tmp_path / "ingest.log",
                           extra_env={"CITYSENSE_INGEST_LIVE_TOPIC": ""})
    published = 0

    async def stored(n: int) -> None:
        async def check() -> bool:
            return await count(db, "SELECT count(*) FROM readings") >= 2 * n

        await eventually(check, 60, f"the readings of {n} uplinks")

    try:
        ingest.start()
        # The bridge's subscription at the network server exists once its first uplink comes through.
        _publish(remote, range(0, 1))
        published = 1
        await stored(published)

        _publish(remote, range(1, 21))
        published = 21
        await stored(published)

        local.stop()  # our broker goes down: the network server queues for the bridge's session
        _publish(remote, range(21, 41))
        local.start()
        published = 41
        await stored(published)

        local.stop()  # both restart: what is queued at the network server survives its restart too
        _publish(remote, range(41, 61))
        remote.stop()
        remote.start()
        local.start()
        published = 61
        await stored(published)

        remote.stop()  # the network server restarts while all is quiet; the bridge reconnects
        remote.start()
        _publish(remote, range(61, 81))
        published = 81
        await stored(published)
    finally:
        ingest.kill()

    rows = await db.fetch("SELECT sensor_id, metric, time, value FROM readings")
    expected = set()
    for i in range(published):
        doc = orjson.loads(_uplink(i)[1])
        device = doc["end_device_ids"]["device_id"]
        expected.add((f"ttn:{device}", "temperature", doc["received_at"], round(20 + i / 100, 6)))
        expected.add((f"ttn:{device}", "humidity", doc["received_at"], 50.0))
    got = {(r["sensor_id"], r["metric"], r["time"].strftime("%Y-%m-%dT%H:%M:%S.000Z"), round(r["value"], 6))
           for r in rows}
    assert got == expected
    assert len(rows) == 2 * published
    assert await count(db, "SELECT count(*) FROM rejected_messages") == 0
    # The bridge logged in with the application's name and key, over TLS, more than once.
    assert remote.log_count(f"u'{APP}'") >= 3
