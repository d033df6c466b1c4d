"""The hourly rollups as they should be, computed from raw rows with numpy — another way than
the SQL the writer runs — to compare with readings_hourly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import numpy as np

from models.metrics import METRICS

HOUR_US = 3_600_000_000


def expected_rollups(rows: Sequence[tuple[str, str, datetime, float]]) -> dict[tuple[str, str, int], tuple[float, ...]]:
    """(sensor, metric, hour index) → (count, sum, min, max, first, last, increase)."""
    out: dict[tuple[str, str, int], tuple[float, ...]] = {}
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for sensor, metric, time, value in rows:
        us = int(time.timestamp() * 1_000_000)
        series.setdefault((sensor, metric), []).append((us, value))
    for (sensor, metric), points in series.items():
        arr = np.array(sorted(points), dtype=np.float64)
        times = arr[:, 0].astype(np.int64)
        values = arr[:, 1]
        hours = times // HOUR_US
        for hour in np.unique(hours):
            v = values[hours == hour]
            steps = np.diff(v)
            increase = float(np.where(steps >= 0, steps, v[1:]).sum()) if len(v) > 1 else 0.0
            if not METRICS[metric].cumulative:
                increase = 0.0
            out[(sensor, metric, int(hour))] = (
                float(len(v)), float(v.sum()), float(v.min()), float(v.max()), float(v[0]), float(v[-1]), increase
            )
    return out


async def stored_rollups(conn: asyncpg.Connection) -> dict[tuple[str, str, int], tuple[float, ...]]:
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


async def assert_rollups_exact(conn: asyncpg.Connection) -> int:
    """Rollups equal what numpy computes from the raw rows. Returns the number of hours compared."""
    raw = await conn.fetch("SELECT sensor_id, metric, time, value FROM readings")
    want = expected_rollups([(r["sensor_id"], r["metric"], r["time"], r["value"]) for r in raw])
    got = await stored_rollups(conn)
    assert got.keys() == want.keys()
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=1e-9, atol=1e-9, err_msg=str(key))
    return len(want)
