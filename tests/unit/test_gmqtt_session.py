"""GmqttSession's bookkeeping without a broker: gmqtt's own PUBACK callback is attached to each
delivery's coroutine as gmqtt attaches it, and the transport is a stand-in that records pauses."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import gmqtt  # type: ignore[import-untyped]
from gmqtt.mqtt.connection import MQTTConnection  # type: ignore[import-untyped]

from citysense.endpoints import parse_mqtt_url
from ingest.gmqtt_session import GmqttSession, Unacknowledged, _quiet_unacknowledged
from ingest.mqtt_session import SessionConfig


class _Transport:
    def __init__(self) -> None:
        self.reading = True
        self.pauses = 0

    def is_closing(self) -> bool:
        return False

    def is_reading(self) -> bool:
        return self.reading

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True


class _Connection:
    def __init__(self) -> None:
        self._transport = _Transport()


def _session(receive_maximum: int = 3) -> tuple[GmqttSession, list[int]]:
    cfg = SessionConfig(endpoint=parse_mqtt_url("mqtt://127.0.0.1:1"), client_id="unit", filters=("t/+",),
                        receive_maximum=receive_maximum, keepalive_s=30)
    s = GmqttSession(cfg, lambda: None)
    s._client._connection = _Connection()
    s._generation = 1
    return s, []


def _deliver(s: GmqttSession, pubacks: list[int], mid: int) -> asyncio.Task[int]:
    """What gmqtt does with a QoS 1 PUBLISH when optimistic_acknowledgement is off."""
    task = asyncio.ensure_future(s._on_message(s._client, "t/1", b"{}", 1, {"dup": 0}))

    def puback(f: asyncio.Task[int], mid: int) -> None:  # gmqtt's __handle_publish_callback
        if f.result() == 0:
            pubacks.append(mid)

    task.add_done_callback(partial(puback, mid=mid))
    return task


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_pubacks_follow_arrival_order_and_wait_for_ack() -> None:
    s, pubacks = _session(receive_maximum=10)
    tasks = [_deliver(s, pubacks, mid) for mid in (11, 12, 13, 14, 15)]
    await _settle()
    assert pubacks == []  # nothing before the commit
    taken = [s.inbox.popleft() for _ in range(5)]
    assert s.ack(taken[:3]) == 3
    await _settle()
    assert pubacks == [11, 12, 13]
    assert s.ack(taken[3:]) == 2
    await asyncio.gather(*tasks)
    assert pubacks == [11, 12, 13, 14, 15]
    assert s.held == 0


async def test_no_puback_for_a_delivery_of_a_previous_connection() -> None:
    s, pubacks = _session()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda lp, ctx: _quiet_unacknowledged(lp, ctx, None))
    tasks = [_deliver(s, pubacks, mid) for mid in (1, 2)]
    await _settle()
    old = [s.inbox.popleft(), s.inbox.popleft()]
    s._on_disconnect(s._client, None)  # the connection is gone: the coroutines must not return
    s._on_connect(_Subscriber(), 1, 0, {})
    assert s.ack(old) == 0
    await asyncio.gather(*tasks, return_exceptions=True)
    assert pubacks == []
    assert all(isinstance(t.exception(), Unacknowledged) for t in tasks)
    assert s.dropped_acks == 2
    assert s.held == 0


async def test_reading_pauses_at_receive_maximum_and_resumes_when_acks_free_room() -> None:
    s, pubacks = _session(receive_maximum=3)
    transport = s._client._connection._transport
    tasks = [_deliver(s, pubacks, mid) for mid in (1, 2)]
    await _settle()
    assert transport.reading
    tasks.append(_deliver(s, pubacks, 3))
    await _settle()
    assert not transport.reading
    assert (s.held, s.peak_held, s.waits) == (3, 3, 1)
    s.ack([s.inbox.popleft()])
    assert transport.reading
    s.ack([s.inbox.popleft(), s.inbox.popleft()])
    await asyncio.gather(*tasks)
    assert pubacks == [1, 2, 3]


async def test_after_stop_taking_new_messages_are_left_to_the_broker() -> None:
    s, pubacks = _session()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda lp, ctx: _quiet_unacknowledged(lp, ctx, None))
    s.stop_taking()
    task = _deliver(s, pubacks, 1)
    await asyncio.gather(task, return_exceptions=True)
    assert isinstance(task.exception(), Unacknowledged)
    assert (len(s.inbox), s.held, pubacks) == (0, 0, [])


def test_the_private_gmqtt_parts_relied_on_are_still_there() -> None:
    # Flow control reaches for Client._connection._transport; gmqtt must still hand acks to a done
    # callback of the on_message coroutine (optimistic_acknowledgement=False).
    client = gmqtt.Client("unit", clean_session=False, optimistic_acknowledgement=False)
    assert client._connection is None
    assert "_transport" in MQTTConnection.__init__.__code__.co_names
    assert client._package_handler._optimistic_acknowledgement is False


def test_an_unacknowledged_callback_error_is_not_reported_but_others_are() -> None:
    seen: list[Any] = []
    loop = asyncio.new_event_loop()
    try:
        _quiet_unacknowledged(loop, {"exception": Unacknowledged()}, lambda _l, ctx: seen.append(ctx))
        _quiet_unacknowledged(loop, {"exception": ValueError("x")}, lambda _l, ctx: seen.append(ctx))
    finally:
        loop.close()
    assert [type(c["exception"]) for c in seen] == [ValueError]


class _Subscriber:
    def subscribe(self, _subs: Any) -> None:
        pass
