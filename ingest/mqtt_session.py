"""The MQTT side of ingest: a paho-mqtt v2 client with manual acknowledgements.

paho's network loop runs in its own thread; its callbacks only hand messages on
(a deque the asyncio side drains). PUBACKs are sent by `ack`, which ingest calls
only after the messages' transaction has committed.

Memory is bounded here, not only by the broker: Mosquitto 2.0 keeps its in-flight
count within the client's Receive Maximum only while no acks flow; once they do it
can send well beyond it (1,755 unacked with a window of 100 were seen). So the
session holds at most `receive_maximum` messages (in the inbox or taken and not yet
acknowledged); when that many are held, the callback waits for `ack` to release
some. The wait cannot deadlock: the asyncio side drains the inbox and acks without
needing paho's thread, whose queued PUBACKs go out as soon as the callback returns.
The wait lasts as long as the database needs: memory stays bounded even through an
outage, at the price of a reconnect when the outage outlasts the broker's keep-alive.

A PUBACK names a packet id, and ids are reused per connection: after a reconnect
an old id may belong to a new, uncommitted message. So every message carries the
connection generation it arrived on, and acks for an older generation are
dropped: the broker redelivers those messages and the unique key absorbs them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citysense.endpoints import MqttEndpoint

log = logging.getLogger("citysense.ingest.mqtt")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    endpoint: MqttEndpoint
    client_id: str
    filters: tuple[str, ...]
    share_group: str = ""
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 6000
    keepalive_s: int = 60

    def subscriptions(self) -> list[str]:
        if not self.share_group:
            return list(self.filters)
        return [f"$share/{self.share_group}/{f}" for f in self.filters]


@dataclass(frozen=True, slots=True)
class Delivery:
    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime
    arrived: float  # time.monotonic(), for batch age


class Session(Protocol):
    """What ingest needs of an MQTT session; `MqttSession` (paho) and `gmqtt_session.GmqttSession`."""

    config: SessionConfig
    inbox: collections.deque[Delivery]
    peak_held: int
    waits: int
    dropped_acks: int

    @property
    def held(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def connected(self) -> bool: ...
    async def open(self) -> None: ...
    def ack(self, deliveries: Sequence[Delivery]) -> int: ...
    def release(self, n: int) -> None: ...
    def publish(self, topic: str, payload: bytes) -> None: ...
    def stop_taking(self) -> None: ...
    async def close(self) -> None: ...


class MqttSession:
    def __init__(self, config: SessionConfig, on_arrival: Callable[[], None]) -> None:
        self.config = config
        self.inbox: collections.deque[Delivery] = collections.deque()
        self._on_arrival = on_arrival
        self._lock = threading.Lock()
        self._room = threading.Condition(threading.Lock())
        self._held = 0  # messages in the inbox or taken from it and not yet acknowledged
        self._closing = False
        self._generation = 0
        self.peak_held = 0
        self.waits = 0  # how often the callback had to wait for room
        self._connected = threading.Event()
        self.dropped_acks = 0
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if config.endpoint.username:
            client.username_pw_set(config.endpoint.username, config.endpoint.password)
        if config.endpoint.tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client

    # -- paho thread ------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused by %s:%d: %s", self.config.endpoint.host,
                      self.config.endpoint.port, reason)
            return
        with self._lock:
            self._generation += 1
        log.info(
            "connected to %s:%d as %s (session %s)",
            self.config.endpoint.host, self.config.endpoint.port, self.config.client_id,
            "resumed" if flags.session_present else "new",
        )
        opts = SubscribeOptions(qos=1)
        client.subscribe([(topic, opts) for topic in self.config.subscriptions()])
        self._connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        for topic, reason in zip(self.config.subscriptions(), reasons, strict=False):
            if reason.is_failure:
                log.error("subscription to %s refused: %s", topic, reason)
        log.info("subscribed to %s", ", ".join(self.config.subscriptions()))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self._generation += 1
        self._connected.clear()
        log.warning("disconnected from the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        capacity = self.config.receive_maximum
        with self._room:
            if self._held >= capacity:
                self.waits += 1
                warn_at = time.monotonic() + self.config.keepalive_s / 3
                # Timed waits so that `stop` cannot be missed.
                while self._held >= capacity and not self._closing:
                    self._room.wait(0.5)
                    if warn_at and time.monotonic() > warn_at:
                        # The database is away or stuck. Waiting on keeps memory bounded (the
                        # broker does not stop at the window by itself: it sent a window of 100
                        # 19,000 messages during a 15 s stall once acks had flowed). The price:
                        # this thread sends no keep-alive, so a stall longer than 1.5 x the
                        # keep-alive lets the broker drop the connection; what is held is then
                        # written but redelivered, and the unique key absorbs it.
                        log.warning("no acknowledgement for %.0f s with %d messages held; waiting for the "
                                    "database", self.config.keepalive_s / 3, self._held)
                        warn_at = 0.0
            if self._closing:
                return  # not taken, not acknowledged: the broker delivers it again
            self._held += 1
            self.peak_held = max(self.peak_held, self._held)
        self.inbox.append(
            Delivery(self._generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload),
                     datetime.now(UTC), time.monotonic())
        )
        if len(self.inbox) == 1:
            self._on_arrival()

    # -- caller's thread -------------------------------------------------------
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        ep = self.config.endpoint
        self._client.connect_async(ep.host, ep.port, keepalive=self.config.keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()

    async def open(self) -> None:
        self.start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def held(self) -> int:
        """Messages in memory: in the inbox or taken from it and not yet acknowledged."""
        return self._held

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge, in arrival order, the deliveries of the current connection, and release
        all of them from the memory bound. Returns acks sent."""
        sent = 0
        with self._lock:
            for d in deliveries:
                if d.qos == 0:
                    continue
                if d.generation != self._generation:
                    self.dropped_acks += 1
                    continue
                self._client.ack(d.mid, d.qos)
                sent += 1
            if sent:
                self._note_sent()
        self.release(len(deliveries))
        return sent

    def _note_sent(self) -> None:
        # paho never records its own writes (`_packet_write` returns before it updates
        # `_last_msg_out` once its queue is empty), so it sends PINGREQ every keep-alive period
        # even while PUBACKs flow. Behind a backlog the broker queues the PINGRESP after every
        # PUBLISH it has queued for us, which we read only as fast as we commit; paho then
        # closed the connection ("Keep alive timeout") and everything unacked came again.
        # Our PUBACKs are traffic enough for the broker's keep-alive, so note them as paho would.
        c = self._client
        with c._msgtime_mutex:
            c._last_msg_out = mqtt.time_func()

    def release(self, n: int) -> None:
        """`n` held messages are done with (acknowledged, or dropped for the broker to redeliver)."""
        with self._room:
            self._held -= n
            self._room.notify()

    @property
    def generation(self) -> int:
        return self._generation

    def publish(self, topic: str, payload: bytes) -> None:
        """Fire-and-forget (QoS 0); paho queues it for its network thread."""
        self._client.publish(topic, payload, qos=0)

    def stop_taking(self) -> None:
        """From now on leave new messages unacknowledged with the broker (it delivers them
        again), so that draining what is held in memory has an end under a steady stream."""
        with self._room:
            self._closing = True
            self._room.notify_all()

    async def close(self) -> None:
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        self.stop_taking()
        # DISCONNECT is queued behind the PUBACKs already handed to paho, so they go out first.
        self._client.disconnect()
        self._client.loop_stop()
