"""The hourly and daily rollups as they should be, computed from raw rows with numpy — another
way than the SQL the writer runs — to compare with readings_hourly and readings_daily."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from models.metrics import METRICS
from models.rollups import DAILY_ZONE

HOUR_US = 3_600_000_000

Row = tuple[str, str, datetime, float]
Key = tuple[str, str, int]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(t: datetime) -> int:
    """Epoch microseconds, exactly (a float timestamp × 1e6 can be off by one)."""
    return (t - _EPOCH) // _MICROSECOND


def _expected(rows: Sequence[Row], unit_of: Callable[[np.ndarray], np.ndarray], with_times: bool
              ) -> dict[Key, tuple[float, ...]]:
    """(sensor, metric, unit) → (count, sum, min, max, first, last, increase[, first time, last time
    in epoch microseconds]), where `unit_of` maps epoch microseconds to a unit number."""
    out: dict[Key, tuple[float, ...]] = {}
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for sensor, metric, time, value in rows:
        series.setdefault((sensor, metric), []).append((_us(time), value))
    for (sensor, metric), points in series.items():
        points.sort()
        times = np.array([t for t, _ in points], dtype=np.int64)
        values = np.array([v for _, v in points], dtype=np.float64)
        units = unit_of(times)
        for unit in np.unique(units):
            mask = units == unit
            v = values[mask]
            steps = np.diff(v)
            increase = float(np.where(steps >= 0, steps, v[1:]).sum()) if len(v) > 1 else 0.0
            if not METRICS[metric].cumulative:
                increase = 0.0
            summary: tuple[float, ...] = (
                float(len(v)), float(v.sum()), float(v.min()), float(v.max()), float(v[0]), float(v[-1]), increase
            )
            if with_times:
                t = times[mask]
                summary = (*summary, int(t[0]), int(t[-1]))
            out[(sensor, metric, int(unit))] = summary
    return out


def expected_rollups(rows: Sequence[Row]) -> dict[Key, tuple[float, ...]]:
    """(sensor, metric, hour index) → (count, sum, min, max, first, last, increase)."""
    return _expected(rows, lambda us: us // HOUR_US, with_times=False)


def _local_day_numbers(us: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    # The local calendar date of each reading (zoneinfo, not time_bucket), as a proleptic ordinal.
    return np.array([datetime.fromtimestamp(int(t) // 1_000_000, tz=UTC).astimezone(tz).date().toordinal()
                     for t in us], dtype=np.int64)


def expected_daily_rollups(rows: Sequence[Row], zone: str = DAILY_ZONE) -> dict[Key, tuple[float, ...]]:
    """(sensor, metric, local date ordinal) → (count, sum, min, max, first, last, increase,
    first time, last time)."""
    tz = ZoneInfo(zone)
    return _expected(rows, lambda us: _local_day_numbers(us, tz), with_times=True)


async def stored_rollups(conn: asyncpg.Connection) -> dict[Key, tuple[float, ...]]:
    rows = await conn.fetch(
        "SELECT sensor_id, metric, bucket, count, sum, min, max, first_value, last_value, increase "
        "FROM readings_hourly"
    )
    return {
        (r["sensor_id"], r["metric"], int(r["bucket"].timestamp()) // 3600): (
            float(r["count"]), r["sum"], r["min"], r["max"], r["first_value"], r["last_value"], r["increase"]
        )
        for r in rows
    }


async def stored_daily_rollups(conn: asyncpg.Connection, zone: str = DAILY_ZONE) -> dict[Key, tuple[float, ...]]:
    tz = ZoneInfo(zone)
    rows = await conn.fetch(
        "SELECT day, sensor_id, metric, count, sum, min, max, first_time, first_value, last_time, last_value, "
        "increase FROM readings_daily"
    )
    out: dict[Key, tuple[float, ...]] = {}
    for r in rows:
        local: date = r["day"].astimezone(tz).date()
        # `day` must be the local midnight that starts the day, not any instant in it.
        assert r["day"] == datetime(local.year, local.month, local.day, tzinfo=tz), r
        out[(r["sensor_id"], r["metric"], local.toordinal())] = (
            float(r["count"]), r["sum"], r["min"], r["max"], r["first_value"], r["last_value"], r["increase"],
            _us(r["first_time"]), _us(r["last_time"]),
        )
    return out


def _assert_equal(got: dict[Key, tuple[float, ...]], want: dict[Key, tuple[float, ...]], what: str) -> None:
    only_got, only_want = sorted(got.keys() - want.keys())[:5], sorted(want.keys() - got.keys())[:5]
    assert got.keys() == want.keys(), f"{what}: only stored {only_got}, only expected {only_want}"
    for key, expected in want.items():
        # values to the last bits of float summation order; times (daily only, after the 7 values) exactly
        np.testing.assert_allclose(got[key][:7], expected[:7], rtol=1e-9, atol=1e-9, err_msg=f"{what} {key}")
        assert got[key][7:] == expected[7:], f"{what} {key}: first/last time {got[key][7:]} != {expected[7:]}"


async def assert_rollups_exact(conn: asyncpg.Connection) -> int:
    """Hourly and daily rollups equal what numpy computes from the raw rows. Returns the number
    of hours compared."""
    raw = await conn.fetch("SELECT sensor_id, metric, time, value FROM readings")
    rows = [(r["sensor_id"], r["metric"], r["time"], r["value"]) for r in raw]
    want = expected_rollups(rows)
    _assert_equal(await stored_rollups(conn), want, "readings_hourly")
    await assert_daily_exact(conn, rows)
    return len(want)


async def assert_daily_exact(conn: asyncpg.Connection, rows: Sequence[Row] | None = None) -> int:
    """readings_daily equals what numpy computes from the raw rows. Returns the number of days compared."""
    if rows is None:
        raw = await conn.fetch("SELECT sensor_id, metric, time, value FROM readings")
        rows = [(r["sensor_id"], r["metric"], r["time"], r["value"]) for r in raw]
    want = expected_daily_rollups(rows)
    _assert_equal(await stored_daily_rollups(conn), want, "readings_daily")
    return len(want)
