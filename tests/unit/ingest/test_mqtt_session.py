"""MqttSession's bookkeeping, without a network: paho's client is created but never connected, and
the network thread's steps are called directly."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt

from citysense.endpoints import parse_mqtt_url
from ingest.mqtt_session import MqttSession, SessionConfig


def _session(receive_maximum: int = 3) -> MqttSession:
    cfg = SessionConfig(endpoint=parse_mqtt_url("mqtt://127.0.0.1:1"), client_id="unit", filters=("t/+",),
                        receive_maximum=receive_maximum, keepalive_s=30)
    return MqttSession(cfg, lambda: None)


def _message(mid: int) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid, b"t/1")
    msg.payload = b"{}"
    msg.qos = 1
    return msg


def _queued_pubacks(s: MqttSession) -> list[int]:
    return [p["mid"] for p in s._client._out_packet if p["command"] & 0xF0 == mqtt.PUBACK]


def test_acks_count_as_traffic_for_pahos_keep_alive() -> None:
    # paho itself never notes its writes, and pinged behind a backlog until it timed itself out.
    s = _session()
    s._on_message(s._client, None, _message(1))
    s._client._last_msg_out = 0.0
    assert s.ack([s.inbox.popleft()]) == 1
    s._send_acks()
    assert time.monotonic() - s._client._last_msg_out < 5


def test_pubacks_are_queued_in_arrival_order_by_the_network_thread_only() -> None:
    s = _session(receive_maximum=10)
    for mid in (7, 3, 9, 1):
        s._on_message(s._client, None, _message(mid))
    taken = [s.inbox.popleft() for _ in range(4)]
    s.ack(taken[:2])
    s.ack(taken[2:])
    assert _queued_pubacks(s) == []  # nothing from the caller's thread
    s._send_acks()
    assert _queued_pubacks(s) == [7, 3, 9, 1]
    assert s.held == 0


def test_no_puback_for_a_message_of_a_previous_connection() -> None:
    s = _session()
    s._on_message(s._client, None, _message(1))
    s._on_message(s._client, None, _message(2))
    first, second = s.inbox.popleft(), s.inbox.popleft()
    s.ack([first])  # accepted: same connection when acked ...
    s._generation += 1  # ... but the connection changed before the network thread sent it
    assert s.ack([second]) == 0
    s._send_acks()
    assert _queued_pubacks(s) == []
    assert s.dropped_acks == 2


def test_no_reading_at_receive_maximum_until_an_ack_frees_room() -> None:
    s = _session(receive_maximum=3)
    for mid in (1, 2, 3):
        s._on_message(s._client, None, _message(mid))
    assert not s._room()
    assert (s.held, s.peak_held) == (3, 3)
    s.ack([s.inbox.popleft()])
    assert s._room()
    s.stop_taking()
    assert not s._room()  # stopping: new messages stay with the broker
