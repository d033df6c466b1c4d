"""paho-mqtt on a socket read in large chunks, with its writes collected until flushed.

paho reads a packet's type byte, every remaining-length byte and the rest with separate
`recv()` calls, after a `select()` per packet, and sends every packet (each PUBACK) with a
`send()` of its own. For a QoS 1 consumer that is several system calls per message. Driven by
a loop of our own, one `recv()` serves a burst of packets and the PUBACKs of the burst leave
in one `send()` (docs/performance.md, "paho, own loop, batched acks").
"""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as mqtt


class BufferedSocket:
    """A socket whose recv() is served from one large read; everything else is the socket's.

    paho's _packet_read asks for 1 byte (packet type), 1 byte per remaining-length byte, then the
    rest: three or more recv() system calls per packet, each after a select(). pending() is what
    paho asks an SSL socket: while it is non-zero paho's loop reads without waiting in select().
    With `cork`, send() only collects (paho sees everything sent) and flush() sends what was
    collected, so the PUBACKs of a burst of packets leave in one send()."""

    def __init__(self, sock: Any, size: int = 256 * 1024, cork: bool = False) -> None:
        self._sock = sock
        self._size = size
        self._buf = b""
        self._pos = 0
        self._cork = cork
        self._out = bytearray()

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = self._sock.recv(self._size)  # BlockingIOError and b"" (closed) reach paho as before
            self._pos = 0
        chunk = self._buf[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + int(inner)

    def send(self, data: bytes | bytearray) -> int:
        if not self._cork:
            return int(self._sock.send(data))
        self._out += data
        return len(data)

    def unsent(self) -> int:
        return len(self._out)

    def uncork(self) -> None:
        """Send what was collected and send directly from now on (paho closes the socket right after
        writing DISCONNECT, so that must not wait in the buffer)."""
        self._sock.setblocking(True)
        self.flush()
        self._sock.setblocking(False)
        self._cork = False

    def flush(self) -> None:
        while self._out:
            try:
                sent = self._sock.send(self._out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return  # the rest when the socket is writable again
            except OSError:
                # The connection is gone: paho finds out on its next read and reconnects; PUBACKs
                # of a lost connection are worthless (the broker redelivers those messages).
                self._out.clear()
                return
            del self._out[:sent]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho-mqtt's Client on a BufferedSocket (paho's private _create_socket, paho 2.x;
    tests/unit/test_mqtt_socket.py checks that it is still called)."""

    cork = False

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket(), cork=self.cork)
