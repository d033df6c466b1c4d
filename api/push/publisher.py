"""The API process's one MQTT connection for pushed payloads: QoS 1, and a publish returns only
after the broker's PUBACK, so the HTTP answer 202 means the broker holds the message (and queues it
in ingest's persistent session while ingest is away).

Kept connected in the background with backoff; while it is not connected a publish raises
BrokerAway at once (the route answers 503 with Retry-After) instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid

import aiomqtt

from citysense.backoff import backoff
from citysense.endpoints import MqttEndpoint

log = logging.getLogger("citysense.api.push")
# aiomqtt warns whenever more than a handful of publishes await their PUBACK; concurrent requests do so on purpose.
_mqtt_log = logging.getLogger("citysense.api.push.mqtt")
_mqtt_log.setLevel(logging.ERROR)

IN_FLIGHT = 1000  # QoS 1 publishes awaiting their PUBACK at once (the shipped broker's receive maximum)
PUBACK_TIMEOUT_S = 10.0


class BrokerAway(Exception):
    """The broker is not connected, or did not acknowledge in time: the payload is not queued."""


class PushPublisher:
    def __init__(self, endpoint: MqttEndpoint) -> None:
        self.endpoint = endpoint
        self._client: aiomqtt.Client | None = None
        # Done when the current connection is gone: publishes still awaiting their PUBACK then fail at
        # once (aiomqtt would let them wait out their timeout, and the sender with them).
        self._lost: asyncio.Future[None] | None = None
        # Unique per process: two API replicas with one client id would take each other's connection.
        self.client_id = f"citysense-api-push-{uuid.uuid4().hex[:12]}"

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def publish(self, topic: str, payload: bytes) -> None:
        """Returns once the broker acknowledged the message (PUBACK); BrokerAway otherwise."""
        client, lost = self._client, self._lost
        if client is None or lost is None:
            raise BrokerAway("the MQTT broker is not connected")
        sent = asyncio.ensure_future(client.publish(topic, payload, qos=1, timeout=PUBACK_TIMEOUT_S))
        try:
            await asyncio.wait((sent, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sent.done():
                sent.cancel()
        if sent.cancelled():
            raise BrokerAway("lost the MQTT broker before it acknowledged the message")
        exc = sent.exception()
        if exc is not None:
            raise BrokerAway(f"the MQTT broker did not take the message: {exc}") from None

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
