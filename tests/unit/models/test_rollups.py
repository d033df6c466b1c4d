"""The fixed zone of the daily rollups (models.rollups) against what the writer and the
migration assume of it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from models.metrics import METRICS
from models.rollups import CUMULATIVE, DAILY_ZONE


def test_every_local_midnight_is_a_whole_utc_hour() -> None:
    # The writer folds a batch's hourly rollups into days: exact only if no UTC hour straddles
    # a local midnight. Checked over every day the API can be asked about (1970..2200).
    tz = ZoneInfo(DAILY_ZONE)
    d, last = date(1970, 1, 1), date(2200, 1, 1)
    while d < last:
        midnight = datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
        assert (midnight.minute, midnight.second) == (0, 0), d
        d += timedelta(days=1)


def test_migration_uses_the_same_zone_and_counters() -> None:
    sql = (resources.files("models.migrations") / "0002_daily_rollup.sql").read_text("utf-8")
    assert set(re.findall(r"time_bucket\('1 day', \w+, '([^']+)'\)", sql)) == {DAILY_ZONE}
    listed = re.search(r"metric IN \(([^)]*)\)", sql)
    assert listed is not None
    assert tuple(sorted(re.findall(r"'(\w+)'", listed[1]))) == CUMULATIVE
    assert set(CUMULATIVE) == {name for name, m in METRICS.items() if m.cumulative}
