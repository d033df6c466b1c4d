"""MqttSession's bookkeeping, without a network: paho's client is created but never connected."""

from __future__ import annotations

import threading
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


def test_acks_count_as_traffic_for_pahos_keep_alive() -> None:
    # paho itself never notes its writes, and pinged behind a backlog until it timed itself out.
    s = _session()
    s._on_message(s._client, None, _message(1))
    s._client._last_msg_out = 0.0
    assert s.ack([s.inbox.popleft()]) == 1
    assert time.monotonic() - s._client._last_msg_out < 5


def test_the_callback_waits_at_receive_maximum_until_an_ack_frees_room() -> None:
    s = _session(receive_maximum=3)
    for mid in (1, 2, 3):
        s._on_message(s._client, None, _message(mid))
    fourth = threading.Thread(target=s._on_message, args=(s._client, None, _message(4)))
    fourth.start()
    fourth.join(0.3)
    assert fourth.is_alive()
    assert len(s.inbox) == 3
    assert s.held == 3
    s.ack([s.inbox.popleft()])
    fourth.join(2)
    assert not fourth.is_alive()
    assert [d.mid for d in s.inbox] == [2, 3, 4]
    assert (s.held, s.peak_held, s.waits) == (3, 3, 1)


def test_stop_taking_releases_a_waiting_callback_without_taking_its_message() -> None:
    s = _session(receive_maximum=1)
    s._on_message(s._client, None, _message(1))
    waiting = threading.Thread(target=s._on_message, args=(s._client, None, _message(2)))
    waiting.start()
    waiting.join(0.2)
    s.stop_taking()
    waiting.join(2)
    assert not waiting.is_alive()
    assert [d.mid for d in s.inbox] == [1]
