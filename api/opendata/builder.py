"""Building the bulk files: the open aggregates of each dataset and local day, written as gzip CSV
under CITYSENSE_OPEN_BULK_DIR. Rows come from the same answer() as `GET /api/v1/open/aggregates`,
with the same limits, so a file holds what the endpoint answers for that day.

A query covers up to a week of days (one per metric, resolution and grouping); the rows are split
into days by the local date of their bucket. Every bucket (an hour, a local day) lies in one day,
and the aggregates of a bucket do not depend on the range around it (for `increase` the step into
the bucket comes from the previous reading either way), so this gives the rows a per-day request
gives, with ~7x fewer queries.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from api.aggregation import AggregateRequest, AggRow, Fill, GroupBy, SensorFilter, Source
from api.answers.aggregates import Limits, answer, coverage_of
from api.opendata.bulkfiles import GROUPINGS, RESOLUTIONS, BulkRow, file_name, render_csv
from api.opendata.datasets import DATASETS, Dataset
from api.timebuckets import parse_bucket

CHUNK_DAYS = 7
# The builder's own bound on one answer (buckets x groups): a week of hours for a few thousand sensors.
_MAX_ROWS = 10_000_000


@dataclass(frozen=True, slots=True)
class BuildResult:
    files: int  # files written or found unchanged
    changed: int  # files whose bytes changed (or that are new)
    rows: int


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _limits(group_by: GroupBy, tz: ZoneInfo, k: int) -> Limits:
    # The open endpoint's limits (api.routes.aggregates.open_aggregates): k-suppression except per
    # sensor, and per sensor only non-private sensors.
    return Limits(max_rows=_MAX_ROWS, tz=tz, min_sensors=None if group_by is GroupBy.SENSOR else k,
                  sensor_groups_public_only=True)


async def dataset_rows(
    conn: asyncpg.Connection, ds: Dataset, first: date, last: date, tz: ZoneInfo, k: int
) -> dict[date, list[BulkRow]]:
    """The bulk rows of `ds` for the local days first..last (inclusive), per day, in file order."""
    start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    days: dict[date, list[BulkRow]] = defaultdict(list)
    flt = SensorFilter(kinds=(ds.kind.value,), include_private=True)
    for metric, agg in ds.metrics:
        for resolution, bucket in RESOLUTIONS:
            for group_by in GROUPINGS:
                req = AggregateRequest(metric, parse_bucket(bucket), agg, group_by, start, end, flt, Fill.NONE)
                limits = _limits(group_by, tz, k)
                ans = await answer(conn, req, Source.AUTO, limits)
                per_day: dict[date, list[AggRow]] = defaultdict(list)
                for r in ans.rows:
                    per_day[r.bucket.astimezone(tz).date()].append(r)
                for day, rows in sorted(per_day.items()):
                    # Coverage as a request for that one day answers it (it depends on the range).
                    one_day = replace(req, start=local_midnight(day, tz),
                                      end=local_midnight(day + timedelta(days=1), tz))
                    for r in await coverage_of(conn, one_day, rows, limits):
                        days[day].append(BulkRow(metric, agg.value, resolution, group_by.value,
                                                 r.bucket.astimezone(tz), r.group, r.value, r.count, r.coverage))
    return days


def write_if_changed(path: Path, content: bytes) -> bool:
    """Replace the file atomically when its bytes differ; False when it already held them."""
    if path.exists() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return True


def _chunks(first: date, last: date) -> list[tuple[date, date]]:
    out = []
    d = first
    while d <= last:
        end = min(last, d + timedelta(days=CHUNK_DAYS - 1))
        out.append((d, end))
        d = end + timedelta(days=1)
    return out


async def build(
    pool: asyncpg.Pool, out_dir: Path, first: date, last: date, tz: ZoneInfo, k: int,
    progress: Callable[[str], None], datasets: Sequence[Dataset] = DATASETS,
) -> BuildResult:
    """Write the files of every dataset for the local days first..last (inclusive); an empty day
    gets a file with the header only, so every day of the range is listed."""
    if last < first:
        raise ValueError(f"the last day ({last}) is before the first ({first})")
    chunks = _chunks(first, last)
    steps = len(chunks) * len(datasets)
    files = changed = rows = 0
    step = 0
    began = time.monotonic()
    async with pool.acquire() as conn:
        for ds in datasets:
            for lo, hi in chunks:
                step += 1
                by_day = await dataset_rows(conn, ds, lo, hi, tz, k)
                n_changed = n_rows = 0
                d = lo
                while d <= hi:
                    day_rows = by_day.get(d, [])
                    n_changed += write_if_changed(out_dir / ds.id / file_name(ds.id, d), render_csv(day_rows))
                    n_rows += len(day_rows)
                    files += 1
                    d += timedelta(days=1)
                changed += n_changed
                rows += n_rows
                progress(f"[{step}/{steps}] {ds.id} {lo}..{hi}: {(hi - lo).days + 1} file(s), {n_changed} changed, "
                         f"{n_rows} row(s), {time.monotonic() - began:.1f}s")
    return BuildResult(files, changed, rows)
