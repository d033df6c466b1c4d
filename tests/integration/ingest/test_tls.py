"""Ingest over TLS (`mqtts://`): paho reads from a buffered socket of ingest's own making, so the TLS
path is tested end to end against a Mosquitto with a TLS listener and a certificate from a
throwaway CA (trustme)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import orjson
import paho.mqtt.client as paho
import pytest
import trustme

from devenv.mosquitto import MOSQUITTO, Mosquitto
from tests.integration.support import MQTT_CLIENTS, IngestProcess, count, eventually, free_port

MESSAGES = 200


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A Mosquitto with only a TLS listener; yields its port and the CA file clients must trust."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("needs Mosquitto")
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    port = free_port()
    broker = Mosquitto(
        d, port=port,
        # Run as whoever runs the tests (as the bench's broker does): started as root, Mosquitto
        # would otherwise switch to its own user, which cannot read pytest's private directories.
        conf=f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\ncafile {d / 'ca.pem'}\n"
        f"certfile {d / 'server.pem'}\nkeyfile {d / 'server.key'}\nallow_anonymous true\npersistence false\n",
    )
    try:
        broker.start()
    except RuntimeError as exc:
        pytest.fail(f"the TLS Mosquitto did not start: {exc}")
    yield port, d / "ca.pem"
    broker.stop()


def _publish_over_tls(port: int, ca: Path, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.tls_set(ca_certs=str(ca))
    client.connect("localhost", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("mqtt_client", MQTT_CLIENTS)
async def test_ingest_over_tls_stores_every_reading(
    db: asyncpg.Connection, database_url: str, tls_broker: tuple[int, Path], unique: str, mqtt_client: str,
    tmp_path: Path,
) -> None:
    port, ca = tls_broker
    ingest = IngestProcess(
        database_url=database_url, mqtt_url=f"mqtts://localhost:{port}", client_id=f"tls-{unique}",
        topics="citysense/json/+", log_path=tmp_path / "ingest.log",
        # The system's trust store plus nothing: the throwaway CA is trusted through OpenSSL's own
        # variable, as an operator would point it at a private CA.
        extra_env={"SSL_CERT_FILE": str(ca), "CITYSENSE_INGEST_MQTT_CLIENT": mqtt_client,
                   "CITYSENSE_INGEST_SESSION_EXPIRY_S": "0"},
    )
    try:
        ingest.start()  # inside the try: a start that fails must not leave the process running
        messages = [(f"citysense/json/{unique}-{i % 5}",
                     orjson.dumps({"time": f"2026-11-26T10:{i // 60:02d}:{i % 60:02d}Z", "readings": {"power": i}}))
                    for i in range(MESSAGES)]
        _publish_over_tls(port, ca, messages)

        async def stored() -> bool:
            return await count(db, "SELECT count(*) FROM readings") == MESSAGES

        await eventually(stored, 30, "every reading stored")
        assert await count(db, "SELECT count(*) FROM rejected_messages") == 0
        assert "connected to localhost" in ingest.log_text()
    finally:
        ingest.kill()
