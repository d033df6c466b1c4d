"""Shared snapshot pages: one query for the clients that subscribed before it started, a query of
its own for a client that subscribed after."""

from __future__ import annotations

import asyncio

import pytest

from api.live.pages import SharedPages


async def test_clients_subscribed_before_a_query_share_it() -> None:
    now = [10.0]
    pages: SharedPages[str] = SharedPages(clock=lambda: now[0])
    gate = asyncio.Event()
    calls = 0

    async def query() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return f"page #{calls}"

    first = asyncio.create_task(pages.get("p1", subscribed_at=9.0, query=query))
    await asyncio.sleep(0)
    others = [asyncio.create_task(pages.get("p1", subscribed_at=9.5, query=query)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert {await t for t in [first, *others]} == {"page #1"}
    assert (calls, pages.queries, pages.shared) == (1, 1, 50)


async def test_a_client_subscribed_after_the_query_started_gets_its_own() -> None:
    now = [10.0]
    pages: SharedPages[str] = SharedPages(clock=lambda: now[0])
    calls = 0

    async def query() -> str:
        nonlocal calls
        calls += 1
        return f"page #{calls}"

    assert await pages.get("p1", subscribed_at=9.0, query=query) == "page #1"
    now[0] = 10.6
    # subscribed after that query began: it might miss a reading committed in between
    assert await pages.get("p1", subscribed_at=10.5, query=query) == "page #2"
    now[0] = 11.0
    # subscribed before the second query began: shares it while it is kept
    assert await pages.get("p1", subscribed_at=10.5, query=query) == "page #2"
    assert await pages.get("p2", subscribed_at=10.5, query=query) == "page #3"  # another page


async def test_a_failed_query_is_not_shared_afterwards() -> None:
    pages: SharedPages[str] = SharedPages(clock=lambda: 10.0)

    async def broken() -> str:
        raise OSError("database away")

    async def fine() -> str:
        return "ok"

    with pytest.raises(OSError, match="database away"):
        await pages.get("p1", subscribed_at=9.0, query=broken)
    assert await pages.get("p1", subscribed_at=9.0, query=fine) == "ok"
