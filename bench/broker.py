"""The bench's MQTT side: persistent sessions, publishers, the live-bus listener.

The broker (devenv.mosquitto.PrivateBroker) is the shipped configuration
(deploy/mosquitto/citysense.conf: max_inflight_messages 1000, max_queued_messages 1,000,000,
persistence) on a free loopback port, so the bench never touches the sessions of the local
broker that `citysense services up` runs. Publishers are
separate processes (paho-mqtt, QoS 1, a window of up to 20,000 unacknowledged messages, so
16-bit packet ids never collide); their clocks are the wall clock (time.time()), the same
clock the live-bus listener stamps arrivals with.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from numpy.typing import NDArray
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citysense.endpoints import MqttEndpoint

BROKER_RECEIVE_MAXIMUM = 1000  # the shipped config's max_inflight_messages, advertised in CONNACK


def client(endpoint: MqttEndpoint, client_id: str = "", manual_ack: bool = False) -> mqtt.Client:
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if endpoint.username:
        c.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        import ssl

        c.tls_set_context(ssl.create_default_context())
    return c


def connect_props(session_expiry_s: int, receive_maximum: int | None = None) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return props


def _connect_and_wait(c: mqtt.Client, endpoint: MqttEndpoint, clean_start: bool, props: Properties,
                      timeout: float = 10) -> None:
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        connected.set()

    c.on_connect = on_connect
    c.connect(endpoint.host, endpoint.port, keepalive=60, clean_start=clean_start, properties=props)
    c.loop_start()
    if not connected.wait(timeout) or failure:
        c.loop_stop()
        raise RuntimeError(f"MQTT connect to {endpoint!r} failed: {failure or 'timeout'}")


def register_session(endpoint: MqttEndpoint, client_id: str, subscriptions: Sequence[str],
                     session_expiry_s: int = 3600) -> None:
    """Create a fresh persistent session subscribed (QoS 1) to `subscriptions`, then leave it offline:
    from now on the broker queues matching messages for it."""
    c = client(endpoint, client_id)
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    _connect_and_wait(c, endpoint, True, connect_props(session_expiry_s))
    try:
        c.subscribe([(s, SubscribeOptions(qos=1)) for s in subscriptions])
        if not subscribed.wait(10):
            raise RuntimeError(f"no SUBACK for {client_id}")
    finally:
        c.disconnect()
        c.loop_stop()


def clear_session(endpoint: MqttEndpoint, client_id: str) -> None:
    """Clean start with session expiry 0: the broker forgets the session and its queue."""
    c = client(endpoint, client_id)
    with contextlib.suppress(RuntimeError, OSError):
        _connect_and_wait(c, endpoint, True, connect_props(0))
        c.disconnect()
        c.loop_stop()


# --- publishers ---------------------------------------------------------------------------------------
#
# paho's publish() costs ~120 µs of CPU per QoS 1 message (measured here: 9k msg/s per process), so
# a Python paho publisher would measure itself, not the consumer. The publishers speak MQTT v5 on a
# raw socket instead: the PUBLISH packets are built once with the message set, a chunk is sent with
# one sendall() after patching its packet ids, and PUBACKs are counted as they come. Flow control is
# the broker's: never more unacknowledged publishes than the Receive Maximum of its CONNACK.

_PROPERTY_SIZES = {0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1,
                   0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}
_STRING_PROPERTIES = {0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F}  # length-prefixed
_USER_PROPERTY = 0x26


def _read_varint(buf: bytes | bytearray, at: int) -> tuple[int, int] | None:
    """(value, next offset), or None when buf ends inside the number."""
    value, shift = 0, 0
    while at < len(buf):
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    return None


def connack_receive_maximum(body: bytes) -> int:
    """The Receive Maximum of a v5 CONNACK's variable header (flags, reason, properties); 65535 if absent.
    Raises RuntimeError when the broker refused the connection."""
    if len(body) < 2:
        raise RuntimeError("short CONNACK")
    if body[1] >= 0x80:
        raise RuntimeError(f"broker refused the connection: reason code 0x{body[1]:02x}")
    parsed = _read_varint(body, 2)
    if parsed is None:
        return 65535
    length, at = parsed
    end = at + length
    while at < end:
        ident = body[at]
        at += 1
        if ident == 0x21:
            return int.from_bytes(body[at:at + 2], "big")
        if ident in _PROPERTY_SIZES:
            at += _PROPERTY_SIZES[ident]
        elif ident in _STRING_PROPERTIES:
            at += 2 + int.from_bytes(body[at:at + 2], "big")
        elif ident == _USER_PROPERTY:
            at += 2 + int.from_bytes(body[at:at + 2], "big")
            at += 2 + int.from_bytes(body[at:at + 2], "big")
        elif ident == 0x0B:  # subscription identifier: a varint
            skipped = _read_varint(body, at)
            at = skipped[1] if skipped else end
        else:
            break
    return 65535


def connect_packet(client_id: str, username: str | None, password: str | None, keepalive: int = 60) -> bytes:
    """An MQTT v5 CONNECT with Clean Start and session expiry 0 (no session is kept for a publisher)."""
    from bench.messages import varint

    def text(s: str) -> bytes:
        raw = s.encode()
        return len(raw).to_bytes(2, "big") + raw

    flags = 0x02 | (0x80 if username else 0) | (0x40 if password else 0)
    variable = b"\x00\x04MQTT\x05" + bytes([flags]) + keepalive.to_bytes(2, "big") + b"\x00"
    payload = text(client_id) + (text(username) if username else b"") + (text(password) if password else b"")
    body = variable + payload
    return b"\x10" + varint(len(body)) + body


class RawPublisher:
    """A QoS 1 publisher of ready-made PUBLISH packets over one socket."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        sock: socket.socket = socket.create_connection((endpoint.host, endpoint.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if endpoint.tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=endpoint.host)
        self.sock = sock
        self.buf = bytearray()
        sock.sendall(connect_packet(client_id, endpoint.username, endpoint.password))
        kind, body = self._packet()
        if kind != 0x20:
            raise RuntimeError(f"expected CONNACK, got packet type 0x{kind:02x}")
        self.receive_maximum = connack_receive_maximum(body)
        self.in_flight = 0
        self.acked = 0
        self.next_id = 1

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the broker closed the connection")
        self.buf += chunk

    def _packet(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 2:
                parsed = _read_varint(self.buf, 1)
                if parsed is not None and len(self.buf) >= parsed[1] + parsed[0]:
                    kind, body = self.buf[0] & 0xF0, bytes(self.buf[parsed[1]:parsed[1] + parsed[0]])
                    del self.buf[:parsed[1] + parsed[0]]
                    return kind, body
            self._fill()

    def _take_acks(self) -> None:
        """Count the complete packets in the buffer (PUBACKs; a DISCONNECT is an error)."""
        buf = self.buf
        n = len(buf) - len(buf) % 4
        if n and buf[0] == 0x40:
            # The usual case: nothing but 4-byte PUBACKs with success (40 02 id id).
            view = np.frombuffer(bytes(buf[:n]), dtype=np.uint8)
            if (view[0::4] == 0x40).all() and (view[1::4] == 0x02).all():
                del buf[:n]
                self.in_flight -= n // 4
                self.acked += n // 4
                return
        at = 0
        while len(buf) - at >= 2:
            parsed = _read_varint(buf, at + 1)
            if parsed is None or len(buf) < parsed[1] + parsed[0]:
                break
            kind = buf[at] & 0xF0
            if kind == 0x40:
                if parsed[0] > 2 and buf[parsed[1] + 2] >= 0x80:
                    raise RuntimeError(f"PUBACK with error reason 0x{buf[parsed[1] + 2]:02x}")
                self.in_flight -= 1
                self.acked += 1
            elif kind == 0xE0:
                reason = buf[parsed[1]] if parsed[0] else 0
                raise RuntimeError(f"the broker disconnected the publisher: reason 0x{reason:02x}")
            at = parsed[1] + parsed[0]
        del buf[:at]

    def _receive(self, block: bool) -> None:
        self.sock.setblocking(block)
        try:
            self._fill()
        except BlockingIOError:
            return
        finally:
            self.sock.setblocking(True)
        self._take_acks()

    def send(self, packets: NDArray[np.uint8], starts: NDArray[np.int64], id_at: NDArray[np.int64]) -> None:
        """Send messages whose packets are `packets` (back to back), starting at `starts` (relative),
        packet ids at `id_at` (relative), waiting for acks whenever the broker's window is full."""
        count = len(starts)
        done = 0
        while done < count:
            room = self.receive_maximum - self.in_flight
            if room <= 0:
                self._receive(block=True)
                continue
            k = min(room, count - done)
            lo, hi = int(starts[done]), int(starts[done + k]) if done + k < count else len(packets)
            chunk = np.array(packets[lo:hi], dtype=np.uint8)
            ids = (self.next_id - 1 + np.arange(k, dtype=np.int64)) % 65535 + 1
            self.next_id = int(ids[-1]) % 65535 + 1
            pos = id_at[done:done + k] - lo
            chunk[pos] = ids >> 8
            chunk[pos + 1] = ids & 0xFF
            self.sock.sendall(chunk.data)
            self.in_flight += k
            done += k
            self._receive(block=False)

    def drain(self) -> None:
        while self.in_flight > 0:
            self._receive(block=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")
            self.sock.close()


@dataclass(frozen=True, slots=True)
class PublishJob:
    set_dir: str
    lo: int
    hi: int
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    client_id: str
    rate: float  # messages per second for this publisher; 0: as fast as the broker takes them
    record_times: bool


@dataclass(frozen=True, slots=True)
class PublishResult:
    lo: int
    published: int
    first: float  # wall clock of the first send
    last: float  # wall clock of the last send
    acked: float  # wall clock when the last PUBACK was in
    cpu_s: float
    times: NDArray[np.float64] | None  # send wall clock per message lo..hi, when recorded


_PACED_TICK_S = 0.002  # a paced publisher sends what is due every 2 ms


def _publisher(job: PublishJob, ready: Any, go: Any, results: Any) -> None:
    import resource

    from bench.messages import MessageSet

    ms = MessageSet(Path(job.set_dir))
    base = int(ms.packet_off[job.lo])
    packets = np.array(ms.packets[base:int(ms.packet_off[job.hi])])  # into memory before the clock starts
    starts = np.array(ms.packet_off[job.lo:job.hi]) - base
    id_at = np.array(ms.id_at[job.lo:job.hi]) - base
    n = job.hi - job.lo
    pub = RawPublisher(MqttEndpoint(job.host, job.port, job.tls, job.username, job.password), job.client_id)
    times = np.zeros(n, dtype=np.float64) if job.record_times else None
    ready.put(job.client_id)
    go.wait()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    first = time.time()
    if job.rate <= 0:
        step = 4096
        for i in range(0, n, step):
            j = min(n, i + step)
            if times is not None:
                times[i:j] = time.time()
            pub.send(packets[: int(starts[j]) if j < n else len(packets)], starts[i:j], id_at[i:j])
    else:
        i = 0
        while i < n:
            now = time.time()
            j = min(n, max(i + 1, int((now - first) * job.rate) + 1))
            if j > i:
                if times is not None:
                    times[i:j] = now
                pub.send(packets[: int(starts[j]) if j < n else len(packets)], starts[i:j], id_at[i:j])
                i = j
            time.sleep(max(0.0, min(_PACED_TICK_S, first + i / job.rate - time.time())))
    last = time.time()
    pub.drain()
    acked = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    pub.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    results.put(PublishResult(job.lo, n, first, last, acked, cpu, times))


@dataclass(frozen=True, slots=True)
class Published:
    messages: int
    first: float
    last: float
    acked: float
    publishers: int
    cpu_s: float
    times: NDArray[np.float64] | None  # send wall clock per message 0..n (when recorded)

    @property
    def rate(self) -> float:
        return self.messages / max(self.acked - self.first, 1e-9)


def publish(set_dir: Path, n: int, endpoint: MqttEndpoint, publishers: int, tag: str, rate: float = 0.0,
            record_times: bool = False, on_start: Callable[[], None] | None = None) -> Published:
    """Publish messages 0..n of the set at QoS 1 from `publishers` processes (contiguous shares), as fast as
    the broker takes them or at `rate` msg/s in total; return once every PUBACK is in."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    k = max(1, min(publishers, n))
    bounds = [n * j // k for j in range(k + 1)]
    procs = [
        ctx.Process(target=_publisher, daemon=True, args=(PublishJob(
            str(set_dir), bounds[j], bounds[j + 1], endpoint.host, endpoint.port, endpoint.tls, endpoint.username,
            endpoint.password, f"bench-pub-{tag}-{j}", rate / k, record_times), ready, go, results))
        for j in range(k)
    ]
    def get(q: Any) -> Any:
        """The next item of q, or RuntimeError once a publisher died without sending one."""
        import queue

        while True:
            try:
                return q.get(timeout=1)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"publisher process exited with {dead[0].exitcode}") from None

    for p in procs:
        p.start()
    try:
        for _ in procs:
            get(ready)
        if on_start is not None:
            on_start()
        go.set()
        parts: list[PublishResult] = [get(results) for _ in procs]
        for p in procs:
            p.join(30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    times: NDArray[np.float64] | None = None
    if record_times:
        times = np.zeros(n, dtype=np.float64)
        for r in parts:
            assert r.times is not None
            times[r.lo:r.lo + r.published] = r.times
    return Published(
        messages=sum(r.published for r in parts), first=min(r.first for r in parts),
        last=max(r.last for r in parts), acked=max(r.acked for r in parts), publishers=k,
        cpu_s=sum(r.cpu_s for r in parts), times=times,
    )


# --- the live bus ---------------------------------------------------------------------------------------


class BusListener:
    """Subscribes to ingest's live bus (committed readings) and stamps every message's arrival."""

    def __init__(self, endpoint: MqttEndpoint, topic: str) -> None:
        self.endpoint = endpoint
        self.topic = topic
        self.arrivals: list[tuple[float, bytes]] = []
        self.readings = 0
        self.last_arrival = 0.0
        self._since = 0.0
        self._cond = threading.Condition()
        self._client = client(endpoint)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.time()
        payload = bytes(msg.payload)
        try:
            n = len(orjson.loads(payload)["t"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        with self._cond:
            self.arrivals.append((t, payload))
            self.readings += n
            self.last_arrival = t
            self._cond.notify_all()

    def start(self) -> None:
        subscribed = threading.Event()
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: subscribed.set()
        _connect_and_wait(self._client, self.endpoint, True, connect_props(0))
        self._client.subscribe(self.topic, qos=0)
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK for the live-bus subscription")

    def reset(self) -> None:
        with self._cond:
            self.arrivals = []
            self.readings = 0
            self.last_arrival = 0.0

    def wait_for(self, readings: int, stall_s: float, alive: Callable[[], bool]) -> bool:
        """Until `readings` arrived (True), or nothing arrived for stall_s seconds or `alive` says no."""
        with self._cond:
            while self.readings < readings:
                before = self.readings
                self._cond.wait(0.5)
                if self.readings == before:
                    quiet = time.time() - max(self.last_arrival, self._since)
                    if quiet > stall_s or not alive():
                        return False
            return True

    def mark(self) -> None:
        """Start the stall clock of wait_for now (a stage begins)."""
        with self._cond:
            self._since = time.time()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
