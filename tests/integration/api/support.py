"""Helpers for the API tests (no tests here): write readings through the real ingest write path
(ingest.prepare.prepare + ingest.writer.Writer), shape the registry, run the API with settings
of our own, and compute expected answers another way than the API's SQL (plain Python/numpy)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import orjson

from citysense.endpoints import MqttEndpoint
from ingest.prepare import Inbound, PrepareConfig, prepare
from ingest.writer import Writer
from tests.integration.support import ApiProcess

BRUSSELS = ZoneInfo("Europe/Brussels")
Row = tuple[str, str, datetime, float]  # sensor id, metric, time (UTC), value

READ_KEY = "read-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS_ENV = f"{READ_KEY}:read,{ADMIN_KEY}:admin"


def _message(rows: Sequence[Row], received_at: datetime) -> Inbound:
    body = [{"sensor_id": s, "time": t.isoformat(), "readings": {m: v}} for s, m, t, v in rows]
    return Inbound("citysense/json/test", orjson.dumps(body), received_at)


async def write(pool: asyncpg.Pool, rows: Sequence[Row], per_message: int = 200, per_batch: int = 20_000) -> int:
    """Store readings exactly as ingest does: one transaction per batch, rollups kept by the writer.
    Returns the rows inserted (duplicates are not)."""
    cfg = PrepareConfig(tz=BRUSSELS, max_payload_bytes=1 << 30, max_future=timedelta(days=3650))
    writer = Writer(pool)
    now = datetime.now(UTC)
    inserted = 0
    for lo in range(0, len(rows), per_batch):
        chunk = rows[lo:lo + per_batch]
        messages = [_message(chunk[i:i + per_message], now) for i in range(0, len(chunk), per_message)]
        batch = prepare(messages, cfg)
        assert not batch.rejects, batch.rejects[:3]
        inserted += (await writer.write(batch)).inserted
    return inserted


@dataclass(frozen=True)
class Place:
    district: str | None
    lat: float | None = None
    lon: float | None = None
    private: bool = False
    kind: str | None = None


async def register(conn: asyncpg.Connection, places: dict[str, Place]) -> None:
    for sensor_id, p in places.items():
        await conn.execute(
            "INSERT INTO sensors (id, source, kind, district, lat, lon, private) "
            "VALUES ($1, split_part($1, ':', 1), coalesce($2, 'unknown'), $3, $4, $5, $6) "
            "ON CONFLICT (id) DO UPDATE SET kind = coalesce($2, sensors.kind), district = $3, lat = $4, lon = $5, "
            "private = $6",
            sensor_id, p.kind, p.district, p.lat, p.lon, p.private,
        )


async def store(database_url: str, db: asyncpg.Connection, rows: Sequence[Row], places: dict[str, Place]) -> None:
    """Write `rows` through the real write path on a pool of its own, then register `places`."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await write(pool, rows)
    finally:
        await pool.close()
    await register(db, places)


def mqtt_url(ep: MqttEndpoint) -> str:
    auth = f"{ep.username}:{ep.password or ''}@" if ep.username else ""
    return f"{'mqtts' if ep.tls else 'mqtt'}://{auth}{ep.host}:{ep.port}"


def api_process(database_url: str, mqtt: MqttEndpoint, tmp: Path, **env: str) -> ApiProcess:
    server = ApiProcess(database_url=database_url, mqtt_url=mqtt_url(mqtt), log_path=tmp / "api.log",
                        extra_env={"CITYSENSE_API_KEYS": KEYS_ENV, **env})
    server.start()
    return server


# Expected answers ------------------------------------------------------------------------------

def dedupe(rows: Iterable[Row]) -> list[Row]:
    """What the table holds: the first write of each (sensor, metric, time) wins."""
    seen: dict[tuple[str, str, datetime], Row] = {}
    for r in rows:
        seen.setdefault((r[0], r[1], r[2]), r)
    return sorted(seen.values(), key=lambda r: (r[0], r[1], r[2]))


def bucket_of(t: datetime, bucket: str) -> datetime:
    """Bucket start, computed independently of api.timebuckets: epoch arithmetic for fixed widths
    (time_bucket's origin 2000-01-03 is a multiple of every width tested here: 946857600 s), local
    calendar dates for day/week/month."""
    if bucket in ("day", "week", "month"):
        d = t.astimezone(BRUSSELS).date()
        if bucket == "week":
            d = date.fromordinal(d.toordinal() - d.weekday())
        elif bucket == "month":
            d = d.replace(day=1)
        return datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).astimezone(UTC)
    seconds = {"m": 60, "h": 3600, "d": 86400}[bucket[-1]] * int(bucket[:-1])
    origin = 946857600  # 2000-01-03T00:00:00Z
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(origin + (epoch - origin) // seconds * seconds, tz=UTC)


def expected(
    rows: Sequence[Row], metric: str, agg: str, bucket: str, group_of: dict[str, str | None],
    start: datetime, end: datetime,
) -> dict[tuple[datetime, str | None], tuple[float, int]]:
    """(bucket, group) → (value, count) from the raw rows, with numpy / plain Python."""
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for s, m, t, v in rows:
        if m == metric and s in group_of:
            series[s].append((t, v))
    cells: dict[tuple[datetime, str | None], list[tuple[datetime, str, float, float]]] = defaultdict(list)
    for s, points in series.items():
        points.sort()
        prev: float | None = None
        for t, v in points:
            if start <= t < end:
                step = 0.0 if prev is None else (v - prev if v >= prev else v)
                cells[(bucket_of(t, bucket), group_of[s])].append((t, s, v, step))
            prev = v if t < end else prev
    out: dict[tuple[datetime, str | None], tuple[float, int]] = {}
    for key, items in cells.items():
        values = np.array([v for _, _, v, _ in items])
        if agg == "avg":
            value = float(values.sum() / len(values))
        elif agg == "min":
            value = float(values.min())
        elif agg == "max":
            value = float(values.max())
        elif agg == "sum":
            value = float(values.sum())
        elif agg == "count":
            value = float(len(values))
        elif agg == "first":
            value = min(items, key=lambda i: (i[0], i[1]))[2]
        elif agg == "last":
            value = max(items, key=lambda i: (i[0], i[1]))[2]
        elif agg in ("p50", "p95"):
            value = float(np.percentile(values, 50 if agg == "p50" else 95))
        elif agg == "increase":
            value = math.fsum(step for _, _, _, step in items)
        else:
            raise AssertionError(agg)
        out[key] = (value, len(items))
    return out


def assert_same(got: dict[tuple[datetime, str | None], tuple[float | None, int]],
                want: dict[tuple[datetime, str | None], tuple[float, int]], what: str) -> None:
    assert set(got) == set(want), f"{what}: buckets/groups differ: only got {sorted(set(got) - set(want))[:5]}, " \
                                  f"only expected {sorted(set(want) - set(got))[:5]}"
    for key, (value, count) in want.items():
        gv, gc = got[key]
        assert gc == count, f"{what} {key}: count {gc} != {count}"
        assert gv is not None, f"{what} {key}: null"
        assert math.isclose(gv, value, rel_tol=1e-9, abs_tol=1e-9), f"{what} {key}: {gv} != {value}"
