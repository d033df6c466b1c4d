"""Publishing polled records to the broker at QoS 1 (I/O).

`send` returns only once the broker has acknowledged every message (PUBACK): then the record is
the broker's (and, through ingest's persistent session, the database's) to keep, and the poller
may move on. A PUBACK saying "no matching subscribers" (MQTT v5 reason 0x10) means the broker
dropped the message because no ingest session exists: that is an error, not a success, so the
poller does not move on. A lost connection raises too; the caller re-asks from the database.

paho-mqtt directly rather than aiomqtt: aiomqtt does not pass the PUBACK's reason code on.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from citysense.endpoints import MqttEndpoint
from ingest.pollers.telraam_rows import Outgoing

_IN_FLIGHT = 100  # publishes awaiting their PUBACK at once
_NO_MATCHING_SUBSCRIBERS = 0x10
_TIMEOUT_S = 30.0


class PublishError(OSError):
    """The broker did not take every message; nothing after the first refused one counts as sent."""


class Publisher:
    def __init__(self, endpoint: MqttEndpoint, name: str) -> None:
        # A fresh id per process: the poller keeps no broker session; what it sent is acknowledged.
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"citysense-poll-{name}-{os.getpid()}",
                                   protocol=paho.MQTTv5)
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.max_inflight_messages_set(_IN_FLIGHT)
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._endpoint = endpoint
        self._lock = threading.Lock()
        self._codes: dict[int, int] = {}
        self._connected = threading.Event()
        self._refused: str | None = None

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any) -> None:
        if code.is_failure:
            self._refused = str(code)
        self._connected.set()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, code: ReasonCode, props: Any) -> None:
        with self._lock:
            self._codes[mid] = code.value

    def _connect(self) -> None:
        self._client.connect(self._endpoint.host, self._endpoint.port, keepalive=60)
        self._client.loop_start()
        if not self._connected.wait(_TIMEOUT_S) or self._refused is not None:
            self._client.loop_stop()
            raise PublishError(f"broker {self._endpoint!r} refused the connection: {self._refused or 'no answer'}")

    async def __aenter__(self) -> Publisher:
        await asyncio.to_thread(self._connect)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        def close() -> None:
            self._client.disconnect()
            self._client.loop_stop()

        await asyncio.to_thread(close)

    def _send(self, messages: Sequence[Outgoing]) -> None:
        infos = [(m, self._client.publish(m.topic, m.payload, qos=1)) for m in messages]
        for m, info in infos:
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise PublishError(f"publish on {m.topic} failed: {paho.error_string(info.rc)}")
            info.wait_for_publish(_TIMEOUT_S)
            if not info.is_published():
                raise PublishError(f"no PUBACK for {m.topic} within {_TIMEOUT_S:.0f} s")
            with self._lock:
                code = self._codes.pop(info.mid, 0)
            if code == _NO_MATCHING_SUBSCRIBERS:
                raise PublishError(f"the broker has no subscriber for {m.topic} (is ingest running and "
                                   "subscribed?): not counted as sent")
            if code >= 0x80:
                raise PublishError(f"the broker refused {m.topic}: reason code {code:#04x}")

    async def send(self, messages: Sequence[Outgoing]) -> int:
        """Publish all at QoS 1 and wait for every PUBACK; returns how many. PublishError otherwise."""
        await asyncio.to_thread(self._send, messages)
        return len(messages)


def client(endpoint: MqttEndpoint, name: str) -> Publisher:
    return Publisher(endpoint, name)


async def send(mqtt: Publisher, messages: Sequence[Outgoing]) -> int:
    return await mqtt.send(messages)
