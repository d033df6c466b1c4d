"""The policy reports over HTTP, on data written through the ingest write path, each figure
recomputed here from the raw rows in plain Python (closed-form least squares, statistics.median…)."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import BRUSSELS, READ_KEY, Place, Row, api_process, register, write

READ = {"X-API-Key": READ_KEY}


@pytest.fixture
def api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path):
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true")
    yield server
    server.stop()


async def store(database_url: str, rows: list[Row]) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write(pool, rows)
    finally:
        await pool.close()


def local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).astimezone(UTC)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# Mobility ---------------------------------------------------------------------------------------

MOBILITY = {"telraam:1": Place("Leuven"), "telraam:2": Place("Leuven"), "telraam:3": Place("Heverlee")}
MODES = ("bikes", "cars", "pedestrians", "heavy_vehicles")


async def test_mobility(db: asyncpg.Connection, database_url: str, api) -> None:
    start, end = local_midnight(date(2026, 11, 9)), local_midnight(date(2026, 11, 16))
    prev = start - (end - start)
    rng = random.Random(3)
    rows: list[Row] = []
    t = prev - timedelta(hours=2)  # some data before the previous period too: must not count
    while t < end + timedelta(hours=2):
        for s in MOBILITY:
            peak = 1 + 4 * math.exp(-((t.astimezone(BRUSSELS).hour - 8) ** 2) / 4)
            for m, base in zip(MODES, (30, 20, 10, 2), strict=True):
                rows.append((s, m, t, float(rng.randrange(0, int(base * peak) + 1))))
        t += timedelta(minutes=15)
    # Telraam's uptime per sensor and hour (stamped at the hour's start): an hour above 0 and
    # under 0.5 was counted too little of the time; its counts must be flagged.
    uptime: dict[tuple[str, datetime], float] = {}
    t = prev - timedelta(hours=2)
    while t < end + timedelta(hours=2):
        for s in MOBILITY:
            uptime[(s, t)] = rng.choice((0.0, 0.3, 0.45, 0.8, 1.0))
            rows.append((s, "uptime", t, uptime[(s, t)]))
        t += timedelta(hours=1)
    await store(database_url, rows)
    await register(db, MOBILITY)

    async with httpx.AsyncClient(base_url=api.url, headers=READ) as http:
        r = await http.get("/api/v1/policy/mobility", params={"from": start.isoformat(), "to": end.isoformat()})
        assert r.status_code == 200, r.text
        body = r.json()

    daily: dict[tuple[str, str, str], float] = defaultdict(float)
    hourly: dict[tuple[int, str, str], float] = defaultdict(float)
    total: dict[tuple[str, str], float] = defaultdict(float)
    before: dict[tuple[str, str], float] = defaultdict(float)
    daily_low: dict[tuple[str, str, str], float] = defaultdict(float)
    hourly_low: dict[tuple[int, str, str], float] = defaultdict(float)
    total_low: dict[tuple[str, str], float] = defaultdict(float)
    for s, m, t, v in rows:
        if m not in MODES:
            continue
        u = uptime[(s, t.replace(minute=0, second=0, microsecond=0))]
        for d in (MOBILITY[s].district or "", "all"):
            if start <= t < end:
                local = t.astimezone(BRUSSELS)
                daily[(local.date().isoformat(), d, m)] += v
                hourly[(local.hour, d, m)] += v
                total[(d, m)] += v
                if 0 < u < 0.5:
                    daily_low[(local.date().isoformat(), d, m)] += v
                    hourly_low[(local.hour, d, m)] += v
                    total_low[(d, m)] += v
            elif prev <= t < start:
                before[(d, m)] += v
    assert {(x["day"], x["district"], x["mode"]): x["count"] for x in body["daily"]} == daily
    assert {(x["hour"], x["district"], x["mode"]): x["count"] for x in body["by_hour"]} == hourly
    assert {(x["day"], x["district"], x["mode"]): x["low_uptime"] for x in body["daily"]} == {
        k: daily_low.get(k, 0.0) for k in daily}
    assert {(x["hour"], x["district"], x["mode"]): x["low_uptime"] for x in body["by_hour"]} == {
        k: hourly_low.get(k, 0.0) for k in hourly}
    assert {(x["district"], x["mode"]): x["low_uptime"] for x in body["totals"]} == {
        k: total_low.get(k, 0.0) for k in total}
    assert 0 < sum(total_low.values()) < sum(total.values())  # some hours flagged, not all
    assert body["days"] == 7
    assert all(close(x["per_day"], x["count"] / 7) for x in body["by_hour"])
    for x in body["totals"]:
        key = (x["district"], x["mode"])
        assert x["count"] == total[key]
        assert x["previous"] == before[key]
        assert close(x["change_pct"], (total[key] - before[key]) / before[key] * 100)
        city = sum(total[(x["district"], m)] for m in MODES)
        assert close(x["share_pct"], total[key] / city * 100)
    for x in body["peak_hours"]:
        by_hour = {h: hourly[(h, x["district"], x["mode"])] for h in range(24)}
        best = max(by_hour.values())
        assert x["hour"] == min(h for h, v in by_hour.items() if v == best)
        assert x["count"] == best
    assert {x["district"] for x in body["totals"]} == {"Leuven", "Heverlee", "all"}


# Cleanliness ------------------------------------------------------------------------------------

BINS = {"bin:1": Place("Leuven"), "bin:2": Place("Leuven"), "bin:3": Place("Heverlee"), "bin:4": Place("Heverlee")}


def least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


async def test_cleanliness(db: asyncpg.Connection, database_url: str, api) -> None:
    at = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)
    rng = random.Random(5)
    rows: list[Row] = []
    t0 = at - timedelta(days=3)
    for i in range(0, 3 * 48 + 1):  # every 30 min for 3 days
        t = t0 + timedelta(minutes=30 * i)
        h = (t - t0) / timedelta(hours=1)
        # bin:1 emptied 40 h before `at`, then 1.5 points/h with noise
        b1 = 95.0 if h < 32 else 4 + 1.5 * (h - 32) + rng.uniform(-1, 1)
        # bin:2 filling fast: above the threshold now
        b2 = min(100.0, 20 + 1.2 * h)
        # bin:3 flat: not filling
        b3 = 30.0
        # bin:4 overflowing for hours 10..20, emptied at 21, then slowly filling
        b4 = 100.0 if 10 <= h < 21 else (60 + h if h < 10 else 2 + 0.2 * (h - 21))
        for s, v in zip(BINS, (b1, b2, b3, b4), strict=True):
            rows.append((s, "fill_level", t, round(max(0.0, min(100.0, v)), 3)))
    await store(database_url, [r for r in rows if r[2] <= at + timedelta(hours=1)])
    await register(db, BINS)

    async with httpx.AsyncClient(base_url=api.url, headers=READ) as http:
        r = await http.get("/api/v1/policy/cleanliness", params={"at": at.isoformat(), "lookback_hours": 72})
        assert r.status_code == 200, r.text
        body = r.json()

    lists = {b["sensor_id"]: b for b in body["collection_list"]}
    assert [b["sensor_id"] for b in body["collection_list"]] == ["bin:2", "bin:1", "bin:4", "bin:3"]
    assert body["bins_above"] == 1
    assert lists["bin:2"]["above_threshold"]
    # bin:1: the fit since its emptying, by the closed form
    seg = [(t, v) for s, m, t, v in rows if s == "bin:1" and t <= at and t >= t0 + timedelta(hours=32)]
    xs = [(t - seg[0][0]) / timedelta(hours=1) for t, _ in seg]
    slope, intercept = least_squares(xs, [v for _, v in seg])
    assert datetime.fromisoformat(lists["bin:1"]["emptied_at"]) == seg[0][0]
    assert close(lists["bin:1"]["fill_rate_per_hour"], slope)
    left = (100 - intercept) / slope - (at - seg[0][0]) / timedelta(hours=1)
    assert math.isclose(lists["bin:1"]["hours_to_full"], left, rel_tol=1e-6)
    assert lists["bin:3"]["hours_to_full"] is None
    # overflow: hours whose maximum reached 100, in whole hours up to and including at's hour
    hour = at.replace(minute=0)
    o_from = hour - timedelta(hours=72)
    full_hours: dict[str, set[datetime]] = defaultdict(set)
    for s, _, t, v in rows:
        if v >= 100 and o_from <= t < hour + timedelta(hours=1):
            full_hours[BINS[s].district or ""].add((s, t.replace(minute=0, second=0)))  # type: ignore[arg-type]
    assert {d["district"]: d["hours"] for d in body["overflow_hours"]} == {d: len(v) for d, v in full_hours.items()}


# Energy -----------------------------------------------------------------------------------------

METERS = {"p1:a": Place("Leuven"), "p1:b": Place("Leuven"), "p1:c": Place("Heverlee", private=True)}


async def test_energy(db: asyncpg.Connection, database_url: str, api) -> None:
    # Across the autumn DST change: the 25th of October 2026 has 25 hours in Brussels.
    start, end = local_midnight(date(2026, 10, 22)), local_midnight(date(2026, 10, 29))
    rng = random.Random(11)
    rows: list[Row] = []
    for s in METERS:
        counter = rng.uniform(1000, 5000)
        t = start - timedelta(hours=5) + timedelta(seconds=rng.randrange(600))
        while t < end + timedelta(hours=3):
            local = t.astimezone(BRUSSELS)
            w = rng.uniform(80, 150) if local.hour < 6 else rng.uniform(200, 3000)
            counter += w / 1000 * 0.25
            if s == "p1:a" and local.date() == date(2026, 10, 25) and local.hour == 13 and local.minute < 15:
                counter = 0.05  # a meter swap: the counter restarts
            rows.append((s, "power", t, round(w, 2)))
            rows.append((s, "energy_import", t, round(counter, 5)))
            t += timedelta(minutes=15)
    await store(database_url, rows)
    await register(db, METERS)

    params = {"from": start.isoformat(), "to": end.isoformat()}
    async with httpx.AsyncClient(base_url=api.url) as http:
        body = (await http.get("/api/v1/policy/energy", params=params, headers=READ)).json()
        anonymous = (await http.get("/api/v1/policy/energy", params=params)).json()

    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    power: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for s, m, t, v in sorted(rows, key=lambda r: r[2]):
        (series if m == "energy_import" else power)[s].append((t, v))
    kwh: dict[tuple[str, str], float] = defaultdict(float)
    for s, pts in series.items():
        for (_, v0), (t1, v1) in itertools.pairwise(pts):
            if start <= t1 < end:
                kwh[(t1.astimezone(BRUSSELS).date().isoformat(), s)] += v1 - v0 if v1 >= v0 else v1
    got = {(d["day"], d["group"]): d["kwh"] for d in body["daily_by_sensor"]}
    assert got.keys() == kwh.keys()
    assert all(close(got[k], kwh[k]) for k in kwh)
    assert len({d for d, _ in kwh}) == 7
    by_district: dict[tuple[str, str | None], float] = defaultdict(float)
    for (d, s), v in kwh.items():
        by_district[(d, METERS[s].district)] += v
    got = {(d["day"], d["group"]): d["kwh"] for d in body["daily_by_district"]}
    assert got.keys() == by_district.keys()
    assert all(close(got[k], by_district[k]) for k in by_district)

    sensors = {x["sensor_id"]: x for x in body["sensors"]}
    for s, pts in power.items():
        in_range = [(t, v) for t, v in pts if start <= t < end]
        nights: dict[date, float] = {}
        for t, v in in_range:
            local = t.astimezone(BRUSSELS)
            if local.hour < 5:
                nights[local.date()] = min(nights.get(local.date(), v), v)
        assert close(sensors[s]["base_load_w"], statistics.median(nights.values()))
        top = max(v for _, v in in_range)
        assert sensors[s]["peak_w"] == top
        first_top = min(t for t, v in in_range if v == top).replace(minute=0, second=0, microsecond=0)
        assert datetime.fromisoformat(sensors[s]["peak_hour"]) == first_top
        assert close(sensors[s]["kwh"], sum(v for (_, ss), v in kwh.items() if ss == s))
    # coincident peak demand of Leuven: per hour, the sum of each meter's mean power
    demand: dict[datetime, float] = defaultdict(float)
    for s in ("p1:a", "p1:b"):
        per_hour: dict[datetime, list[float]] = defaultdict(list)
        for t, v in power[s]:
            if start <= t < end:
                per_hour[t.replace(minute=0, second=0, microsecond=0)].append(v)
        for h, vs in per_hour.items():
            demand[h] += sum(vs) / len(vs)
    leuven = next(d for d in body["districts"] if d["district"] == "Leuven")
    assert close(leuven["peak_demand_w"], max(demand.values()))
    weekend = defaultdict(list)
    for h, v in demand.items():
        local = h.astimezone(BRUSSELS)
        weekend[(local.weekday() >= 5, local.hour)].append(v)
    assert all(close(leuven["profile_w"]["weekend"][hr], sum(vs) / len(vs))
               for (we, hr), vs in weekend.items() if we)
    # anonymous callers never see the private meter, nor Heverlee's figures built from it
    assert {x["sensor_id"] for x in anonymous["sensors"]} == {"p1:a", "p1:b"}
    assert {x["district"] for x in anonymous["districts"]} == {"Leuven"}


# Air quality ------------------------------------------------------------------------------------

AIR = {"air:1": Place("Leuven"), "air:2": Place("Leuven"), "air:3": Place("Wilsele")}


async def test_air_quality(db: asyncpg.Connection, database_url: str, api) -> None:
    start, end = local_midnight(date(2026, 11, 1)), local_midnight(date(2026, 11, 11))
    rng = random.Random(2)
    rows: list[Row] = []
    t = start
    while t < end:
        for i, s in enumerate(AIR):
            local = t.astimezone(BRUSSELS)
            if s == "air:3" and local.day == 4 and local.hour >= 17:
                continue  # an outage: 4 November has 17 hours of data at air:3, not a valid day
            if rng.random() < 0.1:
                continue  # missed readings
            level = 1 + (local.day % 4) * 0.6 + i * 0.2
            rows.append((s, "pm25", t, round(rng.uniform(5, 22) * level, 2)))
            rows.append((s, "pm10", t, round(rng.uniform(10, 50) * level, 2)))
            rows.append((s, "no2", t, round(rng.uniform(5, 35) * level, 2)))
        t += timedelta(minutes=20)
    await store(database_url, rows)
    await register(db, AIR)
    async with httpx.AsyncClient(base_url=api.url, headers=READ) as http:
        r = await http.get("/api/v1/policy/air-quality", params={"from": start.isoformat(), "to": end.isoformat()})
        assert r.status_code == 200, r.text
        body = r.json()

    hourly: dict[tuple[str, str, datetime], list[float]] = defaultdict(list)
    for s, m, t, v in rows:
        hourly[(s, m, t.replace(minute=0, second=0, microsecond=0))].append(v)
    days: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for (s, m, h), vs in hourly.items():
        days[(s, m, h.astimezone(BRUSSELS).date().isoformat())].append(sum(vs) / len(vs))
    got = {(d["sensor_id"], d["metric"], d["day"]): d for d in body["sensor_days"]}
    assert got.keys() == days.keys()
    for key, means in days.items():
        assert close(got[key]["mean"], sum(means) / len(means))
        assert got[key]["hours"] == len(means)
        assert got[key]["valid"] == (len(means) >= 18)
    assert not got[("air:3", "pm25", "2026-11-04")]["valid"]
    limits = {("who_2021", "pm25"): 15, ("who_2021", "pm10"): 45, ("who_2021", "no2"): 25, ("eu_limit", "pm10"): 50}
    for x in body["exceedances"]:
        if x["scope"] != "sensor":
            continue
        valid = [sum(v) / len(v) for (s, m, _), v in days.items() if s == x["id"] and m == x["metric"] and len(v) >= 18]
        assert x["limit"] == limits[(x["standard"], x["metric"])]
        assert x["valid_days"] == len(valid)
        assert x["days"] == sum(m > x["limit"] for m in valid)
    assert any(x["days"] > 0 for x in body["exceedances"])
    assert any(x["days"] < x["valid_days"]
                                                                 for x in body["exceedances"])
    leuven = {d["day"]: d for d in body["district_days"] if d["district"] == "Leuven" and d["metric"] == "pm10"}
    for day, d in leuven.items():
        valid = [sum(v) / len(v) for (s, m, dd), v in days.items()
                 if dd == day and m == "pm10" and AIR[s].district == "Leuven" and len(v) >= 18]
        assert d["sensors"] == len(valid)
        assert close(d["mean"], sum(valid) / len(valid))
    district_exc = [x for x in body["exceedances"] if x["scope"] == "district" and x["id"] == "Leuven"
                    and x["standard"] == "eu_limit"]
    assert district_exc[0]["days"] == sum(d["mean"] > 50 for d in leuven.values())


async def test_policy_parameters(db: asyncpg.Connection, api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        for path in ("mobility", "energy", "air-quality"):
            r = await http.get(f"/api/v1/policy/{path}")
            assert r.status_code == 200, r.text  # defaults: the last 7 local days, no data
            for params, needle in [
                ({"from": "2026-11-01T00:30:00Z", "to": "2026-11-02T00:00:00Z"}, "whole hours"),
                ({"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00Z"}, "time zone"),
                ({"from": "2024-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "366 days"),
                ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "after"),
            ]:
                r = await http.get(f"/api/v1/policy/{path}", params=params)
                assert r.status_code == 400, (path, params, r.text)
                assert needle in r.json()["detail"], (path, params, r.text)
        assert (await http.get("/api/v1/policy/cleanliness", params={"threshold": 120})).status_code == 422
        assert (await http.get("/api/v1/policy/cleanliness", params={"at": "2026-11-01T00:00:00"})).status_code == 400
        assert (await http.get("/api/v1/policy/cleanliness")).status_code == 200
