"""Bulk files: names, the CSV they hold and their ETags. Pure.

One gzip CSV per dataset and local day (CITYSENSE_TIMEZONE), `<dataset>/<dataset>-<YYYY-MM-DD>.csv.gz`,
with a row per metric, resolution (`hour`, `day`), grouping (`district`, `sensor`), bucket and group:
exactly the rows `GET /api/v1/open/aggregates` answers for that day with `bucket=1h` or `bucket=day`,
`group_by=district` or `sensor`, `kind=<the dataset's kind>` and the dataset's `agg` per metric.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from api.aggregation import GroupBy

# The resolutions and groupings every file holds, in file order: (name, the open endpoint's bucket).
RESOLUTIONS: tuple[tuple[str, str], ...] = (("hour", "1h"), ("day", "day"))
GROUPINGS: tuple[GroupBy, ...] = (GroupBy.DISTRICT, GroupBy.SENSOR)
# `coverage` is the open endpoint's with `coverage=true` for the file's day (received ÷ expected
# readings; empty where nothing was expected), so re-users can judge each row's completeness.
COLUMNS = ("metric", "agg", "resolution", "group_by", "bucket", "group", "value", "count", "coverage")
_NAME = re.compile(r"(?P<dataset>[a-z0-9-]+)-(?P<day>\d{4}-\d{2}-\d{2})\.csv\.gz")


@dataclass(frozen=True, slots=True)
class BulkRow:
    metric: str
    agg: str
    resolution: str
    group_by: str
    bucket: datetime  # in CITYSENSE_TIMEZONE's offset, as the open endpoint writes it
    group: str | None
    value: float | None
    count: int
    coverage: float | None


def file_name(dataset: str, day: date) -> str:
    return f"{dataset}-{day.isoformat()}.csv.gz"


def parse_file_name(name: str) -> tuple[str, date] | None:
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    try:
        return m["dataset"], date.fromisoformat(m["day"])
    except ValueError:
        return None


def render_csv(rows: Iterable[BulkRow]) -> bytes:
    """The file's bytes: CSV as the open endpoint writes its cells, gzipped without a timestamp, so
    the same rows always give the same bytes (and the same ETag)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow((r.metric, r.agg, r.resolution, r.group_by, r.bucket.isoformat(),
                    "" if r.group is None else r.group, "" if r.value is None else repr(r.value), r.count,
                    "" if r.coverage is None else repr(r.coverage)))
    return gzip.compress(out.getvalue().encode(), compresslevel=9, mtime=0)


def file_etag(size: int, mtime_ns: int) -> str:
    """The ETag of a stored file. The builder replaces a file only when its bytes change, so size
    and modification time change exactly when the content does, and serving needs no hashing."""
    return f'"{size:x}-{mtime_ns:x}"'


def matches_etag(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, `*` included)."""
    if not if_none_match:
        return False
    for candidate in (c.strip() for c in if_none_match.split(",")):
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False
