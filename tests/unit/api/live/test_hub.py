"""The live hub: filtering, queues bounded in readings and bytes, shared events, where the lagged
notice lands, and giving up on a client that stays behind."""

from __future__ import annotations

import asyncio

import orjson

from api.live.hub import Hub, LiveFilter, SeriesInfo, reading_event

AIR = SeriesInfo("air", "Leuven", False)
HOME = SeriesInfo("energy", "Heverlee", True)
INFO = {"air:1": AIR, "home:1": HOME}


def info(sensor_id: str) -> SeriesInfo:
    return INFO.get(sensor_id, SeriesInfo("unknown", None, True))


def readings(n: int, sensor: str = "air:1", metric: str = "pm25", start: int = 0) -> list[tuple[int, str, str, float]]:
    return [(1_700_000_000_000 + i, sensor, metric, float(i)) for i in range(start, start + n)]


async def drain(sub, n: int) -> list[dict]:
    return [orjson.loads((await asyncio.wait_for(sub.next(), 1)).data) for _ in range(n)]


def test_filters() -> None:
    f = LiveFilter(kinds=frozenset({"air"}))
    assert f.matches("air:1", "pm25", AIR)
    assert not f.matches("home:1", "power", HOME)
    assert not LiveFilter().matches("home:1", "power", HOME)  # private: not for anonymous clients
    assert LiveFilter(include_private=True).matches("home:1", "power", HOME)
    assert LiveFilter(districts=frozenset({"Leuven"})).matches("air:1", "pm25", AIR)
    assert not LiveFilter(districts=frozenset({"Leuven"})).matches("x:1", "pm25", SeriesInfo("air", None, False))
    assert not LiveFilter(metrics=frozenset({"no2"})).matches("air:1", "pm25", AIR)
    assert LiveFilter(sensors=frozenset({"air:1"}), metrics=frozenset({"pm25"})).matches("air:1", "pm25", AIR)


async def test_readings_reach_matching_clients_only() -> None:
    hub = Hub(queue_size=100)
    air = hub.subscribe(LiveFilter(kinds=frozenset({"air"})))
    everything = hub.subscribe(LiveFilter(include_private=True))
    hub.publish(readings(2) + readings(1, "home:1", "power"), info)
    assert [e["sensor_id"] for e in await drain(air, 2)] == ["air:1", "air:1"]
    assert len(air) == 0
    got = await drain(everything, 3)
    assert [e["metric"] for e in got] == ["pm25", "pm25", "power"]
    assert got[0] == {"type": "reading", "sensor_id": "air:1", "metric": "pm25", "value": 0.0, "unit": "ug/m3",
                      "time": "2023-11-14T22:13:20Z"}
    hub.unsubscribe(air)
    assert len(hub) == 1


async def test_a_slow_client_lags_alone_and_learns_how_much_it_missed() -> None:
    hub = Hub(queue_size=10)
    slow = hub.subscribe(LiveFilter())
    hub.queue_size = 1000
    fast = hub.subscribe(LiveFilter())
    hub.publish(readings(25), info)  # a burst: 10 fit the slow client's queue
    got = await drain(slow, 11)
    assert [e["value"] for e in got[:10]] == [float(i) for i in range(10)]
    assert got[10] == {"type": "lagged", "missed": 15}
    assert len(await drain(fast, 25)) == 25
    assert len(fast) == 0


async def test_the_notice_sits_where_the_gap_is() -> None:
    hub = Hub(queue_size=4)
    sub = hub.subscribe(LiveFilter())
    hub.publish(readings(6), info)  # 0-3 queued, 4-5 dropped
    first = await drain(sub, 2)  # room for 2 again
    hub.publish(readings(3, start=6), info)  # the notice takes a slot, then 6 fits, 7-8 dropped
    rest = await drain(sub, 5)
    seq = [e.get("value", e.get("missed")) for e in first + rest]
    kinds = [e["type"] for e in first + rest]
    assert kinds == ["reading"] * 4 + ["lagged", "reading", "lagged"]
    assert seq == [0.0, 1.0, 2.0, 3.0, 2, 6.0, 2]


async def test_next_waits_for_readings() -> None:
    hub = Hub(queue_size=10)
    sub = hub.subscribe(LiveFilter())
    waiter = asyncio.create_task(sub.next())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    hub.publish(readings(1), info)
    assert orjson.loads((await asyncio.wait_for(waiter, 1)).data)["value"] == 0.0


def test_a_reading_is_encoded_once_and_shared_by_every_client() -> None:
    hub = Hub(queue_size=100)
    a, b = hub.subscribe(LiveFilter()), hub.subscribe(LiveFilter(kinds=frozenset({"air"})))
    hub.publish(readings(3), info)
    got_a, got_b = asyncio.run(a.take()), asyncio.run(b.take())
    assert [e.data for e in got_a] == [e.data for e in got_b]
    assert all(x is y for x, y in zip(got_a, got_b, strict=True))  # the same objects, not copies
    assert got_a[0].sse == b"event: reading\ndata: " + got_a[0].data + b"\n\n"


async def test_the_byte_bound_holds_whatever_the_count_bound() -> None:
    rs = readings(25)
    sizes = [reading_event("reading", *r).size for r in rs]
    hub = Hub(queue_size=1_000_000, queue_bytes=sum(sizes[:10]))
    sub = hub.subscribe(LiveFilter())
    hub.publish(rs, info)
    assert len(sub) == 10
    assert sub.queued_bytes == sum(sizes[:10])
    assert hub.dropped == 15
    got = await sub.take()
    assert [orjson.loads(e.data)["type"] for e in got] == ["reading"] * 10 + ["lagged"]
    assert orjson.loads(got[-1].data)["missed"] == 15
    assert sub.queued_bytes == 0
    assert len(sub) == 0


async def test_take_batches_everything_ready_with_the_notices_in_place() -> None:
    hub = Hub(queue_size=4)
    sub = hub.subscribe(LiveFilter())
    hub.publish(readings(6), info)  # 0-3 queued, 4-5 dropped
    got = await sub.take()
    assert [orjson.loads(e.data).get("value", orjson.loads(e.data).get("missed")) for e in got] == [
        0.0, 1.0, 2.0, 3.0, 2]
    waiter = asyncio.create_task(sub.take())
    await asyncio.sleep(0.01)
    assert not waiter.done()  # nothing ready: take waits
    hub.publish(readings(2, start=6), info)
    assert [orjson.loads(e.data)["value"] for e in await asyncio.wait_for(waiter, 1)] == [6.0, 7.0]


def test_clients_with_one_filter_form_one_group() -> None:
    hub = Hub(queue_size=10)
    subs = [hub.subscribe(LiveFilter(districts=frozenset({"Leuven"}))) for _ in range(3)]
    other = hub.subscribe(LiveFilter(districts=frozenset({"Heverlee"})))
    assert len(hub) == 4
    assert len(hub._groups) == 2
    for s in subs:
        hub.unsubscribe(s)
    assert len(hub) == 1
    assert list(hub._groups) == [other.filter]


async def test_a_client_that_stays_behind_is_closed_with_the_reason() -> None:
    now = [0.0]
    hub = Hub(queue_size=2, max_lag_s=30, clock=lambda: now[0])
    slow = hub.subscribe(LiveFilter())
    keeps_up = hub.subscribe(LiveFilter())
    hub.publish(readings(3), info)  # slow drops one at t=0: behind since then
    await keeps_up.take()
    now[0] = 10.0
    hub.publish(readings(1, start=3), info)
    await keeps_up.take()
    assert slow.closed is None
    now[0] = 31.0
    hub.publish(readings(1, start=4), info)
    assert slow.closed is not None
    assert "behind for 30 s" in slow.closed
    assert hub.closed_slow == 1
    assert keeps_up.closed is None
    got = [orjson.loads(e.data) for e in await slow.take()]
    assert [e["type"] for e in got] == ["reading", "reading", "lagged", "closed"]
    assert got[-1]["reason"] == slow.closed


async def test_catching_up_forgives_an_earlier_lag() -> None:
    now = [0.0]
    hub = Hub(queue_size=2, max_lag_s=30, clock=lambda: now[0])
    sub = hub.subscribe(LiveFilter())
    hub.publish(readings(3), info)
    assert sub.behind_since == 0.0
    await sub.take()  # drained, and the notice delivered: caught up
    assert sub.behind_since is None
    now[0] = 100.0
    hub.publish(readings(3, start=3), info)
    assert sub.closed is None
    assert sub.behind_since == 100.0
