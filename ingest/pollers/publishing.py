"""Publishing polled records to the broker at QoS 1 (I/O).

`send` returns only once the broker has acknowledged every message (PUBACK): then the record is
the broker's (and, through ingest's persistent session, the database's) to keep, and the poller
may move on. A lost connection raises, and the caller re-asks from the database's resume point.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Sequence

import aiomqtt

from citysense.endpoints import MqttEndpoint
from ingest.pollers.telraam_rows import Outgoing

_IN_FLIGHT = 100  # publishes awaiting their PUBACK at once
_mqtt_log = logging.getLogger("citysense.poll.mqtt")
_mqtt_log.setLevel(logging.ERROR)  # aiomqtt warns about many pending publishes; we pipeline on purpose


def client(endpoint: MqttEndpoint, name: str) -> aiomqtt.Client:
    # A fresh id per process: the poller keeps no broker session; what it sent is acknowledged.
    return aiomqtt.Client(
        endpoint.host, endpoint.port, username=endpoint.username, password=endpoint.password,
        identifier=f"citysense-poll-{name}-{os.getpid()}", protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=_IN_FLIGHT, tls_context=ssl.create_default_context() if endpoint.tls else None,
        timeout=10, logger=_mqtt_log,
    )


async def send(mqtt: aiomqtt.Client, messages: Sequence[Outgoing]) -> int:
    """Publish all at QoS 1, in order of issue, and wait for every PUBACK; returns how many."""
    for i in range(0, len(messages), _IN_FLIGHT):
        chunk = messages[i:i + _IN_FLIGHT]
        await asyncio.gather(*(mqtt.publish(m.topic, m.payload, qos=1, timeout=30) for m in chunk))
    return len(messages)
