"""Coverage on aggregate rows (`coverage=true`), through a real `citysense api` over readings
written by the real ingest writer, against numpy over the raw rows: each sensor's cadence as the
median of its hours' gaps, each bucket's expected readings from it, received ÷ expected."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import numpy as np
import pytest

from tests.integration.api.support import BRUSSELS, Place, Row, bucket_of, register, write
from tests.integration.support import ApiProcess

START = datetime(2026, 11, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 11, 0, tzinfo=UTC)


def places(prefix: str) -> dict[str, Place]:
    return {f"{prefix}:a1": Place("Leuven"), f"{prefix}:a2": Place("Leuven"), f"{prefix}:a3": Place("Kessel-Lo")}


def generate(prefix: str, seed: int = 3) -> list[Row]:
    """Three PM sensors: one every 5 min with a 2-hour dropout, one every 10 min (jittered), one
    every 15 min installed only at 05:00 (and a reading before the range, to learn from)."""
    rng = random.Random(seed)
    rows: list[Row] = []
    t = START - timedelta(minutes=2)
    while t < END + timedelta(hours=1):
        if not (START + timedelta(hours=9, minutes=30) <= t < START + timedelta(hours=11, minutes=20)):
            rows.append((f"{prefix}:a1", "pm25", t, round(rng.uniform(2, 40), 2)))
        t += timedelta(seconds=300)
    t = START - timedelta(minutes=7)
    while t < END:
        rows.append((f"{prefix}:a2", "pm25", t + timedelta(seconds=rng.randint(-30, 30)), round(rng.uniform(2, 40), 2)))
        t += timedelta(seconds=600)
    t = START + timedelta(hours=5, seconds=13)
    while t < END:
        rows.append((f"{prefix}:a3", "pm25", t, round(rng.uniform(2, 40), 2)))
        t += timedelta(seconds=900)
    return rows


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def cadence(times: list[datetime], lo: datetime, hi: datetime) -> float | None:
    """The median of the hours' gaps in [lo, hi): span / (n - 1), or for a lone reading the gap
    back to the previous non-empty hour's last."""
    hours: dict[datetime, list[datetime]] = defaultdict(list)
    for t in sorted(times):
        if lo <= t < hi:
            hours[_hour(t)].append(t)
    gaps: list[float] = []
    prev_last: datetime | None = None
    for h in sorted(hours):
        xs = hours[h]
        if len(xs) >= 2:
            gaps.append((xs[-1] - xs[0]).total_seconds() / (len(xs) - 1))
        elif prev_last is not None:
            gaps.append((xs[0] - prev_last).total_seconds())
        prev_last = xs[-1]
    return float(np.median(gaps)) if gaps else None


def bucket_end(start: datetime, bucket: str) -> datetime:
    if bucket == "day":
        d = start.astimezone(BRUSSELS).date() + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).astimezone(UTC)
    return start + timedelta(hours=int(bucket[:-1]))


def want_coverage(rows: list[Row], group_of: dict[str, str | None], bucket: str, start: datetime, end: datetime
                  ) -> dict[tuple[datetime, str | None], float | None]:
    times: dict[str, list[datetime]] = defaultdict(list)
    for s, _, t, _ in rows:
        times[s].append(t)
    first = {s: min(ts) for s, ts in times.items()}
    interval = {s: cadence(ts, _hour(start), end) for s, ts in times.items()}
    counts: dict[tuple[datetime, str | None], int] = defaultdict(int)
    for s, _, t, _ in rows:
        if start <= t < end:
            counts[(bucket_of(t, bucket), group_of[s])] += 1
    out: dict[tuple[datetime, str | None], float | None] = {}
    for (b, g), n in counts.items():
        lo_b, hi_b = max(start, b), min(end, bucket_end(b, bucket))
        owed = sum(max(0.0, (hi_b - max(lo_b, first[s])).total_seconds()) / interval[s]
                   for s in group_of if group_of[s] == g and interval[s])
        out[(b, g)] = n / owed if owed else None
    return out


@pytest.mark.parametrize(("bucket", "group_by"), [("1h", "sensor"), ("6h", "district"), ("day", "none")])
async def test_coverage_matches_numpy_over_the_raw_rows(
    db: asyncpg.Connection, database_url: str, api_server: ApiProcess, unique: str, bucket: str, group_by: str,
) -> None:
    prefix = f"cov{unique}"
    rows = generate(prefix)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await write(pool, rows)
    finally:
        await pool.close()
    await register(db, places(prefix))
    group_of: dict[str, str | None] = {
        "sensor": {s: s for s in places(prefix)}, "district": {s: p.district for s, p in places(prefix).items()},
        "none": dict.fromkeys(places(prefix), "all"),
    }[group_by]
    want = want_coverage(rows, group_of, bucket, START, END)
    assert any(v is not None and v < 0.97 for v in want.values())  # the dropout and the late install show
    assert any(v is not None and abs(v - 1) < 0.05 for v in want.values())  # and complete buckets too
    params = {"metric": "pm25", "bucket": bucket, "agg": "avg", "group_by": group_by, "from": START.isoformat(),
              "to": END.isoformat(), "sensor": list(places(prefix))}
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as http:
        plain = (await http.get("/api/v1/aggregates", params=params)).json()["data"]
        assert plain
        assert all("coverage" not in d for d in plain)  # opt-in
        r = await http.get("/api/v1/aggregates", params={**params, "coverage": "true"})
        assert r.status_code == 200, r.text
        got = {(datetime.fromisoformat(d["bucket"]).astimezone(UTC), d["group"]): d["coverage"]
               for d in r.json()["data"]}
        assert got.keys() == want.keys()
        for key, w in want.items():
            assert w is not None
            assert got[key] == pytest.approx(w, rel=1e-9), (key, got[key], w)
        csv = await http.get("/api/v1/aggregates", params={**params, "coverage": "true", "format": "csv"})
        assert csv.text.split("\n")[0] == "bucket,group,value,count,coverage"
        if group_by == "none":
            # Open data publishes the same coverage (three sensors: not suppressed at k = 3).
            open_params = {k: v for k, v in params.items() if k != "sensor"} | {"coverage": "true"}
            r = await http.get("/api/v1/open/aggregates", params=open_params)
            assert r.status_code == 200, r.text
            opened = {(datetime.fromisoformat(d["bucket"]).astimezone(UTC), d["group"]): d["coverage"]
                      for d in r.json()["data"]}
            assert opened == got
