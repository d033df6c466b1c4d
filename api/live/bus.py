"""Following the live bus: the API process subscribes to the topic ingest republishes every
committed batch on, and hands the readings to the hub.

Each API process has a subscription of its own (not a shared one): every process must
see every reading, whichever ingest replica committed it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence

import aiomqtt

from api.live.hub import Hub
from api.sensor_cache import RegistryCache
from citysense import live_bus
from citysense.backoff import backoff
from citysense.endpoints import MqttEndpoint

log = logging.getLogger("citysense.api.live")


Readings = list[tuple[int, str, str, float]]  # (epoch ms, sensor id, metric, value), as live_bus decodes


class BusFollower:
    """`listeners` get every committed batch after the hub (fleet health's facts, the alert
    evaluator's wake-up); `on_subscribe` runs at every (re)subscription: what was published
    while this process was not subscribed never reaches it, so whoever keeps state reloads."""

    def __init__(self, endpoint: MqttEndpoint, base_topic: str, hub: Hub, registry: RegistryCache,
                 listeners: Sequence[Callable[[Readings], None]] = (),
                 on_subscribe: Callable[[], object] | None = None) -> None:
        self.endpoint = endpoint
        self.listeners = tuple(listeners)
        self.on_subscribe = on_subscribe
        self.topic = live_bus.bus_topic(base_topic)
        self.hub = hub
        self.registry = registry
        self.subscribed = False
        self.malformed = 0
        # Unique per process: two API replicas with one client id would kick each other off.
        self.client_id = f"citysense-api-{uuid.uuid4().hex[:12]}"

    async def _handle(self, payload: bytes) -> None:
        try:
            readings = live_bus.decode(payload)
        except ValueError as exc:
            self.malformed += 1
            log.warning("ignoring a live-bus message: %s", exc)
            return
        await self.registry.resolve(sensor_id for _, sensor_id, _, _ in readings)
        self.hub.publish(readings, self.registry.get)
        for listener in self.listeners:
            listener(readings)

    async def run(self) -> None:
        delays = backoff()
        ep = self.endpoint
        while True:
            try:
                async with aiomqtt.Client(
                    ep.host, ep.port, username=ep.username, password=ep.password, identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=True,
                    tls_context=ssl.create_default_context() if ep.tls else None,
                ) as client:
                    await client.subscribe(self.topic, qos=0)
                    self.subscribed = True
                    if self.on_subscribe is not None:
                        self.on_subscribe()
                    delays = backoff()
                    log.info("following the live bus on %s", self.topic)
                    async for message in client.messages:
                        payload = message.payload
                        if isinstance(payload, bytes | bytearray):
                            await self._handle(bytes(payload))
            except aiomqtt.MqttError as exc:
                delay = next(delays)
                log.warning("live bus unreachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
            finally:
                self.subscribed = False
