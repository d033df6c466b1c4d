"""The buffered socket paho runs on: reads served from one large recv(), writes collected until flushed."""

from __future__ import annotations

import inspect

import paho.mqtt.client as mqtt
import pytest

from ingest.mqtt_socket import BufferedClient, BufferedSocket


class _FakeSocket:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads: list[int] = []
        self.sent: list[bytes] = []

    def recv(self, n: int) -> bytes:
        self.reads.append(n)
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def send(self, data: bytes | bytearray) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def fileno(self) -> int:
        return 7


def test_buffered_socket_serves_small_reads_from_one_large_one() -> None:
    raw = _FakeSocket([b"\x30\x05hello\x40", b"\x02\x00\x01"])
    sock = BufferedSocket(raw, size=1000)
    assert sock.recv(1) == b"\x30"
    assert sock.pending() == 7
    assert sock.recv(1) == b"\x05"
    assert sock.recv(5) == b"hello"
    assert sock.recv(10) == b"\x40"  # what the buffer holds, as a socket would
    assert sock.pending() == 0
    assert raw.reads == [1000]  # one system call so far
    assert sock.recv(3) == b"\x02\x00\x01"
    with pytest.raises(BlockingIOError):
        sock.recv(1)
    assert sock.fileno() == 7  # the rest is the socket's


def test_corked_buffered_socket_sends_a_burst_at_once() -> None:
    raw = _FakeSocket([])
    sock = BufferedSocket(raw, cork=True)
    assert sock.send(b"\x40\x02\x00\x01") == 4
    assert sock.send(b"\x40\x02\x00\x02") == 4
    assert raw.sent == []
    assert sock.unsent() == 8
    sock.flush()
    assert raw.sent == [b"\x40\x02\x00\x01\x40\x02\x00\x02"]
    assert sock.unsent() == 0
    assert BufferedSocket(raw).send(b"x") == 1
    assert raw.sent[-1] == b"x"


def test_paho_still_creates_its_socket_through_the_method_we_override() -> None:
    # BufferedClient relies on paho-mqtt 2.x's private Client._create_socket, called by reconnect().
    assert "_create_socket" in inspect.getsource(mqtt.Client.reconnect)
    assert BufferedClient._create_socket is not mqtt.Client._create_socket
