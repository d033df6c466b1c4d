"""What the rollup tables are keyed by, shared by the writer (ingest.writer), the API's routing
(api.aggregation) and the migrations that create them.

`readings_hourly` is keyed by the UTC hour. `readings_daily` is keyed by the start of the
calendar day in one fixed zone, DAILY_ZONE: a stored table cannot follow a setting, so the
zone is fixed here and in models/migrations/0002_daily_rollup.sql, and the API reads the
daily table only when CITYSENSE_TIMEZONE is this zone (otherwise it answers from the hourly
rollups, as before). Changing it needs a migration that rebuilds the table.

The writer folds the hourly rows of a batch into days, which is exact only because every
local midnight of DAILY_ZONE lies on a whole UTC hour (Brussels: UTC+1/UTC+2 since 1940);
tests/unit/test_rollups.py checks it.
"""

from __future__ import annotations

from models.metrics import METRICS

DAILY_ZONE = "Europe/Brussels"

# Only these carry an `increase` in the rollups (0 for every other metric).
CUMULATIVE = tuple(sorted(name for name, m in METRICS.items() if m.cumulative))
