"""The live hub: filtering, bounded queues, and where the lagged notice lands."""

from __future__ import annotations

import asyncio

import orjson

from api.live.hub import Hub, LiveFilter, SeriesInfo

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
    assert air.queue.empty()
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
    assert fast.queue.empty()


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
