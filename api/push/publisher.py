"""The API process's one MQTT connection for pushed payloads: QoS 1, and a publish returns only
after the broker's PUBACK, so the HTTP answer 202 means the broker holds the message (and queues it
in ingest's persistent session while ingest is away).

The PUBACK's reason code counts: MQTT v5 brokers acknowledge a message they did not take with a
failure code (Mosquitto: 0x87 when the ACL denies the topic) and one that no subscription matched
with 0x10, "no matching subscribers": the broker then drops it, which means ingest's persistent
session does not exist (never started, or expired). Both are BrokerAway, not 202. aiomqtt's publish
ignores the code, so the PUBACKs are awaited here, on paho's on_publish callback.

Kept connected in the background with backoff; while it is not connected a publish raises
BrokerAway at once (the route answers 503 with Retry-After) instead of waiting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from citysense.backoff import backoff
from citysense.endpoints import MqttEndpoint

log = logging.getLogger("citysense.api.push")
# aiomqtt warns whenever more than a handful of publishes await their PUBACK; concurrent requests do so on purpose.
_mqtt_log = logging.getLogger("citysense.api.push.mqtt")
_mqtt_log.setLevel(logging.ERROR)

IN_FLIGHT = 1000  # QoS 1 publishes awaiting their PUBACK at once (the shipped broker's receive maximum)
PUBACK_TIMEOUT_S = 10.0
NO_MATCHING_SUBSCRIBERS = 0x10


class BrokerAway(Exception):
    """The broker is not connected, or did not acknowledge in time: the payload is not queued."""


class PushPublisher:
    def __init__(self, endpoint: MqttEndpoint) -> None:
        self.endpoint = endpoint
        self._client: aiomqtt.Client | None = None
        # Done when the current connection is gone: publishes still awaiting their PUBACK then fail at
        # once (aiomqtt would let them wait out their timeout, and the sender with them).
        self._lost: asyncio.Future[None] | None = None
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}  # packet id -> the PUBACK's reason code
        # Unique per process: two API replicas with one client id would take each other's connection.
        self.client_id = f"citysense-api-push-{uuid.uuid4().hex[:12]}"

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def publish(self, topic: str, payload: bytes) -> None:
        """Returns once the broker acknowledged and took the message (PUBACK); BrokerAway otherwise."""
        client, lost = self._client, self._lost
        if client is None or lost is None:
            raise BrokerAway("the MQTT broker is not connected")
        info = client._client.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise BrokerAway(f"the MQTT broker did not take the message: {paho.error_string(info.rc)}")
        # The PUBACK cannot have been handled yet: paho reads it on this event loop, after we yield.
        ack = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = ack
        try:
            async with asyncio.timeout(PUBACK_TIMEOUT_S):
                await asyncio.wait((ack, lost), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise BrokerAway(f"no PUBACK from the MQTT broker within {PUBACK_TIMEOUT_S:g} s") from None
        finally:
            self._acks.pop(info.mid, None)
        if not ack.done():
            raise BrokerAway("lost the MQTT broker before it acknowledged the message")
        code = ack.result()
        if code.value == NO_MATCHING_SUBSCRIBERS:
            log.error("the broker has no subscription for %s: is ingest's persistent session there?", topic)
            raise BrokerAway("no subscriber for the payload's topic on the broker (ingest's session is missing)")
        if code.is_failure:
            log.error("the broker refused a push on %s: %s (does the API's MQTT user may write it?)", topic, code)
            raise BrokerAway(f"the MQTT broker refused the message: {code}")

    def _on_publish(self, original: Callable[..., None], client: paho.Client, userdata: Any, mid: int,
                    code: ReasonCode, properties: Any) -> None:
        """paho's on_publish (on the event loop: aiomqtt drives paho's socket there), then aiomqtt's own."""
        ack = self._acks.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(code)
        original(client, userdata, mid, code, properties)

    async def run(self) -> None:
        delays = backoff(cap=5.0)  # senders are told to come back soon: reconnect soon
        ep = self.endpoint
        while True:
            try:
                async with aiomqtt.Client(
                    ep.host, ep.port, username=ep.username, password=ep.password, identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=True, max_inflight_messages=IN_FLIGHT,
                    tls_context=ssl.create_default_context() if ep.tls else None, timeout=10, logger=_mqtt_log,
                ) as client:
                    # aiomqtt keeps its paho client in `_client` and ignores the PUBACK's reason code there.
                    original = client._client.on_publish
                    assert original is not None
                    client._client.on_publish = functools.partial(self._on_publish, original)
                    self._lost = asyncio.get_running_loop().create_future()
                    self._client = client
                    delays = backoff(cap=5.0)
                    log.info("push publisher connected to %r", ep)
                    # Nothing is subscribed: this only returns (raising) when the connection is lost.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._forget()
                delay = next(delays)
                log.warning("push publisher: broker unreachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                self._forget()

    def _forget(self) -> None:
        self._client = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
