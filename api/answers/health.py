"""Fleet health: the database's facts (api/queries/health.py) judged by api/analysis/health.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api.analysis.health import (
    ClockFacts,
    Health,
    ProblemKind,
    RejectFacts,
    SensorFacts,
    SeriesFacts,
    Thresholds,
    assess,
)
from api.queries.health import health_facts
from citysense.settings import Settings

# The hours of rollups the cadence and the repeated values are learned from: enough for an
# hourly sensor to show a few gaps, few enough to stay fast for thousands of sensors.
LEARNING_WINDOW = timedelta(hours=6)


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        low_battery_pct=settings.health_low_battery_pct,
        clock_skew=timedelta(seconds=settings.health_clock_skew_s),
        recent=timedelta(seconds=settings.health_rejects_window_s),
    )


def facts_of(row: asyncpg.Record) -> SensorFacts:
    series: tuple[SeriesFacts, ...] = ()
    if row["metrics"] is not None:
        series = tuple(
            SeriesFacts(m, t, v, n, since, gap)
            for m, t, v, n, since, gap in zip(row["metrics"], row["last_times"], row["last_values"], row["runs"],
                                              row["run_sinces"], row["gaps"], strict=True)
        )
    rejects: tuple[RejectFacts, ...] = ()
    if row["kinds"] is not None:
        rejects = tuple(RejectFacts(ProblemKind(k), n, first, err)
                        for k, n, first, err in zip(row["kinds"], row["counts"], row["firsts"], row["errors"],
                                                    strict=True))
    clock = ClockFacts(row["skew_s"], row["clock_at"]) if row["skew_s"] is not None else None
    return SensorFacts(row["id"], row["last_seen"], row["created_at"], series, rejects, clock)


async def fleet_health(
    conn: asyncpg.Connection, settings: Settings, now: datetime, kind: str | None = None,
    district: str | None = None, status: str | None = None, include_private: bool = True,
) -> list[Health]:
    t = thresholds(settings)
    rows = await health_facts(conn, kind, district, include_private, now - LEARNING_WINDOW, now - t.recent)
    judged = (assess(facts_of(r), now, t) for r in rows)
    return [h for h in judged if status is None or h.status == status]
