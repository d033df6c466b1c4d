"""The live feed of one client: the latest value of each matching series, then live readings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson

from api import queries
from api.live.hub import Event, LiveFilter, reading_event
from api.queries.aggregates import select_sensors
from api.state import AppState

KEEPALIVE_S = 15.0


async def snapshot(state: AppState, flt: LiveFilter) -> list[Event]:
    """`latest` events: the latest value of every matching series that reported within
    CITYSENSE_API_LIVE_RECENT_HOURS."""
    async with state.pool.acquire() as conn:
        sensors = await select_sensors(
            conn, sorted(flt.districts), sorted(flt.kinds), sorted(flt.sensors), None, flt.include_private
        )
        if not sensors:
            return []
        since = datetime.now(UTC) - timedelta(hours=state.settings.api_live_recent_hours)
        rows = await queries.latest_recent(conn, since, [s["id"] for s in sensors], sorted(flt.metrics))
    return [
        reading_event("latest", int(r["time"].timestamp() * 1000), r["sensor_id"], r["metric"], r["value"])
        for r in rows
    ]


def _marker(kind: str, **fields: object) -> Event:
    return Event(kind, orjson.dumps({"type": kind, **fields}))


async def events(state: AppState, flt: LiveFilter, keepalive: float | None = None) -> AsyncIterator[Event | None]:
    """What a client receives, in order. Subscribes before reading the snapshot, so nothing
    committed in between is lost (it may come twice: once as latest, once as reading).
    With `keepalive`, yields None after that many idle seconds."""
    sub = state.hub.subscribe(flt)
    try:
        latest = await snapshot(state, flt)
        for ev in latest:
            yield ev
        yield _marker("snapshot_end", series=len(latest), live_bus=state.bus is not None)
        while True:
            if keepalive is None:
                yield await sub.next()
                continue
            try:
                yield await asyncio.wait_for(sub.next(), keepalive)
            except TimeoutError:
                yield None
    finally:
        state.hub.unsubscribe(sub)
