"""Fleet health: the facts in memory (api/fleet_facts.py) and the recent dead letters and clock
rows (api/queries/health.py), judged by api/analysis/health.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api.analysis.health import ClockFacts, Health, ProblemKind, RejectFacts, Thresholds
from api.fleet_facts import LEARNING_WINDOW, FleetFacts
from api.queries.health import recent_facts, registry_mark
from citysense.settings import Settings


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        low_battery_pct=settings.health_low_battery_pct,
        clock_skew=timedelta(seconds=settings.health_clock_skew_s),
        recent=timedelta(seconds=settings.health_rejects_window_s),
    )


def _recent_of(row: asyncpg.Record) -> tuple[tuple[RejectFacts, ...], ClockFacts | None]:
    rejects: tuple[RejectFacts, ...] = ()
    if row["kinds"] is not None:
        rejects = tuple(RejectFacts(ProblemKind(k), n, first, err)
                        for k, n, first, err in zip(row["kinds"], row["counts"], row["firsts"], row["errors"],
                                                    strict=True))
    clock = ClockFacts(row["skew_s"], row["clock_at"]) if row["skew_s"] is not None else None
    return rejects, clock


async def fleet_health(
    conn: asyncpg.Connection, facts: FleetFacts, now: datetime, live: bool,
    kind: str | None = None, district: str | None = None, status: str | None = None, include_private: bool = True,
) -> list[Health]:
    """`live`: the live bus keeps `facts` current; without it they are loaded afresh first, and
    so they are when a sensor was registered or deleted since (by ingest, another replica, an
    import): it is in the answer at once, not a refresh period later."""
    if not live or not facts.loaded or await registry_mark(conn) != facts.registry_mark:
        await facts.load()
    recent = {r["id"]: _recent_of(r)
              for r in await recent_facts(conn, now - facts.thresholds.recent, now - LEARNING_WINDOW)}
    judged = facts.health(now, kind, district, include_private, recent)
    return judged if status is None else [h for h in judged if h.status == status]
