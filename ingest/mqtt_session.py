"""The MQTT side of ingest: a paho-mqtt v2 client with manual acknowledgements.

The session's own network thread drives paho (its external-loop API: loop_read,
loop_write, loop_misc) on a buffered socket (mqtt_socket): one recv() serves a burst
of packets, and the PUBACKs of a committed batch leave in one send() instead of one
system call (and a wake-up of paho's thread) each. paho's callbacks only hand messages
on (a deque the asyncio side drains). `ack`, called only after the messages'
transaction has committed, queues the packet ids for the network thread.

Memory is bounded here, not only by the broker: Mosquitto 2.0 keeps its in-flight
count within the client's Receive Maximum only while no acks flow; once they do it
can send well beyond it (1,755 unacked with a window of 100 were seen). So the
session holds at most `receive_maximum` messages (in the inbox or taken and not yet
acknowledged): the network thread does not read from the socket while that many are
held, and the broker's further messages wait in the socket and the broker. Not
reading lasts as long as the database needs: memory stays bounded even through an
outage, at the price of a reconnect when the outage outlasts the keep-alive (paho
pings after a keep-alive without acks and cannot read the answer behind the queued
messages).

A PUBACK names a packet id, and ids are reused per connection: after a reconnect
an old id may belong to a new, uncommitted message. So every message carries the
connection generation it arrived on, and acks for an older generation are
dropped: the broker redelivers those messages and the unique key absorbs them.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citysense.backoff import backoff
from citysense.endpoints import MqttEndpoint
from ingest.mqtt_socket import BufferedClient, BufferedSocket

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


class Session(abc.ABC):
    """What ingest needs of an MQTT session, and the bookkeeping every session keeps: the inbox,
    the memory bound's counters and the connection generation. `MqttSession` (paho) implements it;
    the consumer's unit tests use a stand-in of their own. (A gmqtt session, with an asyncio.Event for
    `connected`, implemented it too until gmqtt was removed from ingest: docs/performance.md.)"""

    def __init__(self, config: SessionConfig, on_arrival: Callable[[], None], connected: threading.Event) -> None:
        self.config = config
        self.inbox: collections.deque[Delivery] = collections.deque()
        self._on_arrival = on_arrival
        self._held = 0  # messages in the inbox or taken from it and not yet acknowledged
        self._closing = False  # no new messages taken
        self._generation = 0  # one more at every connect and disconnect
        self._connected = connected
        self.peak_held = 0
        self.waits = 0  # how often reading stopped because Receive Maximum messages were held
        self.dropped_acks = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def held(self) -> int:
        """Messages in memory: in the inbox or taken from it and not yet acknowledged."""
        return self._held

    @property
    def generation(self) -> int:
        return self._generation

    @abc.abstractmethod
    async def open(self) -> None:
        """Start connecting (in the background: a broker that is away is retried with backoff)."""

    @abc.abstractmethod
    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge, in arrival order, the deliveries of the current connection, and release
        all of them from the memory bound. Returns acks sent (or queued)."""

    @abc.abstractmethod
    def release(self, n: int) -> None:
        """`n` held messages are done with (acknowledged, or dropped for the broker to redeliver)."""

    @abc.abstractmethod
    def publish(self, topic: str, payload: bytes) -> None:
        """Fire-and-forget (QoS 0)."""

    @abc.abstractmethod
    def stop_taking(self) -> None:
        """From now on leave new messages unacknowledged with the broker (it delivers them
        again), so that draining what is held in memory has an end under a steady stream."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Send what is acknowledged, then disconnect."""


class MqttSession(Session):
    def __init__(self, config: SessionConfig, on_arrival: Callable[[], None]) -> None:
        super().__init__(config, on_arrival, threading.Event())
        self._lock = threading.Lock()  # _held, _acks, _generation across the two threads
        self._acks: list[tuple[int, int]] = []  # (generation, packet id) committed, not yet sent
        self._stopping = False  # the network thread ends
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.cork = True
        if config.endpoint.username:
            client.username_pw_set(config.endpoint.username, config.endpoint.password)
        if config.endpoint.tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        # With this set, paho never writes from the thread that queues a packet (ack, publish):
        # only the network thread writes.
        client.on_socket_register_write = lambda *_: None
        self._client = client

    # -- network thread ---------------------------------------------------------
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
        if not self._stopping:
            log.warning("disconnected from the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._held += 1
            self.peak_held = max(self.peak_held, self._held)
            generation = self._generation
        self.inbox.append(
            Delivery(generation, msg.mid, msg.qos, msg.topic, bytes(msg.payload), datetime.now(UTC), time.monotonic())
        )
        if len(self.inbox) == 1:
            self._on_arrival()

    def _room(self) -> bool:
        return self._held < self.config.receive_maximum and not self._closing

    def _send_acks(self) -> None:
        """Queue the committed batches' PUBACKs with paho, in arrival order; loop_write sends them."""
        with self._lock:
            acks, self._acks = self._acks, []
            current = self._generation
        sent = 0
        for generation, mid in acks:
            if generation != current:  # the connection changed after `ack` checked it
                self.dropped_acks += 1
                continue
            self._client.ack(mid, 1)
            sent += 1
        if sent:
            self._note_sent()

    def _connect(self, delays: Any) -> bool:
        """(Re)connect; False after a failure (waited for the next try, or stopping)."""
        ep = self.config.endpoint
        try:
            self._client.reconnect()
            return True
        except ssl.SSLError as exc:  # an OSError too, but no network trouble: certificates, protocol
            delay = next(delays)
            log.error("TLS with the MQTT broker %s:%d failed (%s); retrying in %.1f s", ep.host, ep.port, exc, delay)
        except OSError as exc:
            delay = next(delays)
            log.warning("MQTT broker %s:%d not reachable (%s); retrying in %.1f s", ep.host, ep.port, exc, delay)
        self._sleep(delay)
        return False

    def _sleep(self, seconds: float) -> None:
        """Wait, but wake for `stop`."""
        select.select([self._wake_r], [], [], seconds)
        self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _run(self) -> None:
        client = self._client
        capacity = self.config.receive_maximum
        delays = backoff(initial=1.0)
        full_since: float | None = None
        while not self._stopping:
            sock = client.socket()
            if sock is None:
                if self._connect(delays):
                    delays = backoff(initial=1.0)
                continue
            assert isinstance(sock, BufferedSocket)
            room = self._room()
            if room and sock.pending() > 0:
                readable = True
            else:
                rlist: list[Any] = [self._wake_r, sock] if room else [self._wake_r]
                wlist = [sock] if client.want_write() or sock.unsent() else []
                try:
                    ready = select.select(rlist, wlist, [], 1.0)[0]
                except (OSError, ValueError):
                    ready = []  # the socket was closed meanwhile: paho notices below
                if self._wake_r in ready:
                    self._drain_wake()
                readable = sock in ready
            if readable:
                for _ in range(capacity):  # a burst: what one read brought, while there is room
                    if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or not self._room() or sock.pending() == 0:
                        break
            self._send_acks()
            client.loop_write()
            sock.flush()
            client.loop_misc()
            if self._held >= capacity and not self._closing:
                now = time.monotonic()
                if full_since is None:
                    full_since, self.waits = now, self.waits + 1
                elif now - full_since > self.config.keepalive_s / 3:
                    # The database is away or stuck. Not reading keeps memory bounded (the broker
                    # does not stop at the window by itself: it sent a window of 100 19,000
                    # messages during a 15 s stall once acks had flowed). The price: paho pings
                    # and cannot read the answer behind the queued messages, so a stall longer
                    # than about a keep-alive ends in a reconnect; what is held is written,
                    # redelivered and absorbed by the unique key.
                    log.warning("no acknowledgement for %.0f s with %d messages held; waiting for the "
                                "database", now - full_since, self._held)
                    full_since = float("inf")
            else:
                full_since = None
        self._shut_down()

    def _shut_down(self) -> None:
        client = self._client
        sock = client.socket()
        if sock is not None:
            # The PUBACKs of what was committed go out before the DISCONNECT; paho closes the
            # socket right after writing a DISCONNECT, so nothing may wait in the buffer then.
            self._send_acks()
            client.loop_write()
            if isinstance(sock, BufferedSocket):
                with contextlib.suppress(OSError):
                    sock.uncork()
            client.disconnect()
            client.loop_write()

    # -- caller's thread -------------------------------------------------------
    async def open(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        ep = self.config.endpoint
        self._client.connect_async(ep.host, ep.port, keepalive=self.config.keepalive_s,
                                   clean_start=False, properties=props)
        self._thread = threading.Thread(target=self._run, name="mqtt-network", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: already awake; OSError: closed
            self._wake_w.send(b"x")

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        sent = 0
        with self._lock:
            for d in deliveries:
                if d.qos == 0:
                    continue
                if d.generation != self._generation:
                    self.dropped_acks += 1
                    continue
                self._acks.append((d.generation, d.mid))
                sent += 1
            self._held -= len(deliveries)
        self._wake()
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
        with self._lock:
            self._held -= n
        self._wake()

    def publish(self, topic: str, payload: bytes) -> None:
        # Queued with paho; the network thread sends it.
        self._client.publish(topic, payload, qos=0)
        self._wake()

    def stop_taking(self) -> None:
        self._closing = True
        self._wake()

    async def close(self) -> None:
        await asyncio.to_thread(self._stop_network_thread)

    def _stop_network_thread(self) -> None:
        self.stop_taking()
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(30)
        self._wake_r.close()
        self._wake_w.close()
