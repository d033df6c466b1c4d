"""The MQTT side of ingest on gmqtt: the same contract as `mqtt_session.MqttSession` (paho), on
ingest's own asyncio loop instead of a network thread.

Chosen by `CITYSENSE_INGEST_MQTT_CLIENT=gmqtt`. gmqtt receives a QoS 1 message in about a third
of paho's CPU (docs/performance.md), but it guarantees less, and this module adds what it lacks:

- **Ack after commit, in arrival order.** With `optimistic_acknowledgement=False` gmqtt sends the
  PUBACK when the `on_message` coroutine returns, in the order the coroutines finish. Each
  coroutine here awaits its own future, and `ack` resolves the futures in arrival order; awaiting
  tasks resume, and their done-callbacks (gmqtt's PUBACK) run, in the order the futures were
  resolved.
- **No PUBACK for a message of a previous connection.** gmqtt sends a late PUBACK on whatever
  connection is current, where the packet id may name another, uncommitted message. So every
  delivery carries the connection generation; on a disconnect every pending coroutine is failed,
  and a coroutine whose generation changed raises instead of returning: gmqtt then sends nothing
  and the broker redelivers.
- **Memory bound.** gmqtt reads as long as data comes and starts a task per message, and
  Mosquitto 2.0 sends past the Receive Maximum once acks flow. The session pauses the socket's
  transport while `receive_maximum` messages are held and resumes it when acks free room. What
  was read before the pause still arrives (asyncio's stream buffer, up to 128 KiB + one 256 KiB
  read, and gmqtt's own 64 KiB read), so the bound is the Receive Maximum plus at most ~450 KiB
  of messages: ~800 of the bench's, ~4,000 of the smallest in the tests.
- **Start-up with the broker away.** gmqtt's own `connect` fails at once; the session retries with
  backoff until the first connection, after which gmqtt reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import gmqtt  # type: ignore[import-untyped]
from gmqtt.mqtt.constants import UNLIMITED_RECONNECTS  # type: ignore[import-untyped]
from gmqtt.mqtt.handler import MQTTConnectError  # type: ignore[import-untyped]

from citysense.backoff import backoff
from ingest.mqtt_session import Delivery, Session, SessionConfig

log = logging.getLogger("citysense.ingest.mqtt")

_RECONNECT_DELAY_S = 2  # gmqtt's delay between reconnect attempts (fixed, no backoff)


class Unacknowledged(Exception):
    """Raised by a delivery's coroutine so that gmqtt sends no PUBACK: the broker delivers it again."""


def _quiet_unacknowledged(loop: asyncio.AbstractEventLoop, context: dict[str, Any],
                          previous: Callable[..., Any] | None) -> None:
    # gmqtt's done-callback calls result() on the failed coroutine, and asyncio reports every
    # exception raised in a callback. An Unacknowledged one is the intended outcome, not an error.
    if isinstance(context.get("exception"), Unacknowledged):
        return
    if previous is not None:
        previous(loop, context)
    else:
        loop.default_exception_handler(context)


class GmqttSession(Session):
    def __init__(self, config: SessionConfig, on_arrival: Callable[[], None]) -> None:
        super().__init__(config, on_arrival, asyncio.Event())
        self._pending: dict[int, asyncio.Future[None]] = {}  # arrival number -> its coroutine's wait
        self._arrivals = 0
        self._opener: asyncio.Task[None] | None = None
        client = gmqtt.Client(
            config.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=config.session_expiry_s,
            receive_maximum=config.receive_maximum,
        )
        if config.endpoint.username:
            client.set_auth_credentials(config.endpoint.username, config.endpoint.password)
        client.reconnect_delay = _RECONNECT_DELAY_S
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # -- gmqtt callbacks (all on the loop) ----------------------------------------------------
    def _on_connect(self, client: Any, session_present: int, _rc: int, _props: Any) -> None:
        self._generation += 1
        self._connected.set()
        ep = self.config.endpoint
        log.info("connected to %s:%d as %s (session %s)", ep.host, ep.port, self.config.client_id,
                 "resumed" if session_present else "new")
        client.subscribe([gmqtt.Subscription(topic, qos=1) for topic in self.config.subscriptions()])
        self._apply_bound()

    def _on_subscribe(self, _c: Any, _mid: int, granted: Sequence[int], _props: Any) -> None:
        for topic, code in zip(self.config.subscriptions(), granted, strict=False):
            if code >= 0x80:
                log.error("subscription to %s refused: reason code 0x%02x", topic, code)
        log.info("subscribed to %s", ", ".join(self.config.subscriptions()))

    def _on_disconnect(self, _c: Any, *_args: Any) -> None:
        self._generation += 1
        self._connected.clear()
        self._fail_pending()
        if not self._closing:
            log.warning("disconnected from the broker; reconnecting every %d s", _RECONNECT_DELAY_S)

    async def _on_message(self, _c: Any, topic: str, payload: bytes, qos: int, _props: Any) -> int:
        if self._closing:
            raise Unacknowledged  # not taken: the broker delivers it again
        generation = self._generation
        self._held += 1
        self.peak_held = max(self.peak_held, self._held)
        if qos == 0:
            self.inbox.append(Delivery(generation, 0, 0, topic, payload, datetime.now(UTC), time.monotonic()))
            self._arrived()
            return 0
        self._arrivals += 1
        done = asyncio.get_running_loop().create_future()
        self._pending[self._arrivals] = done
        self.inbox.append(Delivery(generation, self._arrivals, qos, topic, payload, datetime.now(UTC),
                                   time.monotonic()))
        self._arrived()
        await done  # resolved by ack (after commit), failed by a disconnect
        if self._generation != generation:
            raise Unacknowledged  # the packet id may now name another message
        return 0  # the PUBACK's reason code: success

    def _arrived(self) -> None:
        if self._held >= self.config.receive_maximum:
            self._apply_bound()
        if len(self.inbox) == 1:
            self._on_arrival()

    def _transport(self) -> asyncio.ReadTransport | None:
        # gmqtt offers no flow control, so its connection's transport is reached for (private,
        # gmqtt 0.8: Client._connection._transport; tests/unit/test_gmqtt_session.py checks it).
        connection = self._client._connection
        return None if connection is None else connection._transport

    def _apply_bound(self) -> None:
        transport = self._transport()
        if transport is None or transport.is_closing():
            return
        full = self._held >= self.config.receive_maximum
        if full and transport.is_reading():
            transport.pause_reading()
            self.waits += 1
            wait = self.config.keepalive_s / 3
            asyncio.get_running_loop().call_later(wait, self._warn_if_still_paused, transport, self.waits, wait)
        elif not full and not transport.is_reading():
            transport.resume_reading()

    def _warn_if_still_paused(self, transport: asyncio.ReadTransport, pause: int, waited: float) -> None:
        if pause == self.waits and not transport.is_reading() and not transport.is_closing():
            # The database is away or stuck. Staying paused keeps memory bounded (the broker does not
            # stop at the window by itself once acks have flowed). The price: gmqtt closes the
            # connection after 2 x keep-alive without reading; what is held is written, redelivered
            # and absorbed by the unique key.
            log.warning("no acknowledgement for %.0f s with %d messages held; waiting for the database",
                        waited, self._held)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for done in pending.values():
            if not done.done():
                done.set_exception(Unacknowledged())

    # -- the service's side ----------------------------------------------------------------
    async def open(self) -> None:
        """Connect in the background, retrying with backoff until the broker first accepts us;
        from then on gmqtt reconnects by itself."""
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda lp, ctx: _quiet_unacknowledged(lp, ctx, previous))
        self._opener = asyncio.create_task(self._connect_first(), name="mqtt-connect")

    async def _connect_first(self) -> None:
        ep = self.config.endpoint
        delays = backoff()
        # Until then this loop retries, not gmqtt: it would retry a refused CONNACK beside us.
        self._client.reconnect_retries = 0
        while not self._closing:
            try:
                await self._client.connect(ep.host, ep.port, ssl=ssl.create_default_context() if ep.tls else False,
                                           keepalive=self.config.keepalive_s)
                self._client.reconnect_retries = UNLIMITED_RECONNECTS
                return
            except MQTTConnectError as exc:
                delay = next(delays)
                log.error("MQTT connection refused by %s:%d: %s; retrying in %.1f s", ep.host, ep.port, exc, delay)
            except ssl.SSLError as exc:  # an OSError too, but no network trouble: certificates, protocol
                delay = next(delays)
                log.error("TLS with the MQTT broker %s:%d failed (%s); retrying in %.1f s", ep.host, ep.port, exc,
                          delay)
            except OSError as exc:
                delay = next(delays)
                log.warning("MQTT broker %s:%d not reachable (%s); retrying in %.1f s", ep.host, ep.port,
                            exc, delay)
            await asyncio.sleep(delay)

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        # Resolving the futures in this order resumes the coroutines, and so sends the PUBACKs, in it.
        sent = 0
        for d in deliveries:
            if d.qos == 0:
                continue
            done = self._pending.pop(d.mid, None)
            if d.generation != self._generation or done is None:
                self.dropped_acks += 1
                if done is not None and not done.done():
                    done.set_exception(Unacknowledged())
                continue
            done.set_result(None)
            sent += 1
        self.release(len(deliveries))
        return sent

    def release(self, n: int) -> None:
        self._held -= n
        self._apply_bound()

    def publish(self, topic: str, payload: bytes) -> None:
        # Dropped while disconnected, as a QoS 0 message may be.
        if self._connected.is_set():
            self._client.publish(topic, payload, qos=0)

    def stop_taking(self) -> None:
        self._closing = True

    async def close(self) -> None:
        self.stop_taking()
        if self._opener is not None and not self._opener.done():
            self._opener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opener
        # Let the done-callbacks of the last acknowledged coroutines send their PUBACKs first.
        for _ in range(3):
            await asyncio.sleep(0)
        self._fail_pending()
        if self._client._connection is not None:
            with contextlib.suppress(OSError, ConnectionError):
                await self._client.disconnect()
