"""The live feed of one client: the latest value of each matching series, then live readings.

The snapshot is streamed from the database a page at a time: each page is one short query on a
connection that goes back to the pool before the page is written to the client, so a client that
does not read holds one page in memory and no database connection. At most `SNAPSHOT_QUERIES`
snapshot pages are queried at once, whatever the number of clients connecting, so a crowd of new
clients cannot take the pool from the API's other requests, and clients that connect together
share the page queries (api/live/pages.py).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from api import queries
from api.live.hub import Event, LiveFilter, event, reading_event
from api.state import AppState

KEEPALIVE_S = 15.0
SNAPSHOT_QUERIES = 3  # of the pool's 10 connections


Page = tuple[tuple[Event, ...], int, tuple[str, str]]  # the events, rows read, the key after the page


async def _query_page(state: AppState, flt: LiveFilter, since: datetime, after: tuple[str, str]) -> Page:
    async with state.snapshot_gate, state.reads.acquire() as conn:
        rows = await queries.latest_page(
            conn, since, after, sorted(flt.metrics), sorted(flt.sensors), sorted(flt.kinds),
            sorted(flt.districts), flt.include_private, state.settings.api_live_snapshot_page,
        )
    latest = tuple(reading_event("latest", int(r["time"].timestamp() * 1000), r["sensor_id"], r["metric"], r["value"])
                   for r in rows)
    return latest, len(rows), (rows[-1]["sensor_id"], rows[-1]["metric"]) if rows else after


async def snapshot_pages(state: AppState, flt: LiveFilter, subscribed_at: float) -> AsyncIterator[list[Event]]:
    """`latest` events, a page at a time: the latest value of every matching series that reported
    within CITYSENSE_API_LIVE_RECENT_HOURS, in (sensor_id, metric) order."""
    page = state.settings.api_live_snapshot_page
    # The query starts at the hour bucket anyway (time_bucket in the SQL): as the page's key it lets
    # clients that connect within the same hour share the page.
    since = (datetime.now(UTC) - timedelta(hours=state.settings.api_live_recent_hours)).replace(
        minute=0, second=0, microsecond=0)
    after = ("", "")
    while True:
        latest, n, after = await state.snapshot_pages.get(
            (flt, since, after, page), subscribed_at, functools.partial(_query_page, state, flt, since, after))
        # A list of this client's own, and nothing else of the page kept here: the consumer clears
        # the list once written, so no event stays referenced while this generator waits on a client
        # that does not read (held by hundreds of such clients, small leftovers pinned whole
        # allocator arenas: 1.1 MiB per client with 250-series pages).
        mine = list(latest)
        del latest
        if mine:
            yield mine
        if n < page:
            return


async def events(
    state: AppState, flt: LiveFilter, keepalive: float | None = None
) -> AsyncIterator[list[Event] | None]:
    """What a client receives, in order, in batches (everything that is ready is written at once).
    Subscribes before reading the snapshot, so nothing committed in between is lost (it may come
    twice: once as latest, once as reading). With `keepalive`, yields None after that many idle
    seconds. Ends after a `closed` event when the hub gives up on a client that stays behind.
    The caller owns each list it gets and should clear it once written (see `snapshot_pages`)."""
    sub = state.hub.subscribe(flt)
    subscribed_at = time.monotonic()
    try:
        series = 0
        async for latest in snapshot_pages(state, flt, subscribed_at):
            series += len(latest)
            yield latest
        yield [event("snapshot_end", {"type": "snapshot_end", "series": series, "live_bus": state.bus is not None})]
        while True:
            try:
                batch = await asyncio.wait_for(sub.take(), keepalive)
            except TimeoutError:
                yield None
                continue
            yield batch
            if sub.closed is not None:
                return
    finally:
        state.hub.unsubscribe(sub)
