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
    gate = asyncio.Event()
    calls = 0

    async def query() -> str:
        nonlocal calls
        calls += 1
        mine = calls
        await gate.wait()
        return f"page #{mine}"

    early = asyncio.create_task(pages.get("p1", subscribed_at=9.0, query=query))
    await asyncio.sleep(0)
    # subscribed after that query began: it might miss a reading committed in between
    now[0] = 10.6
    late = asyncio.create_task(pages.get("p1", subscribed_at=10.5, query=query))
    await asyncio.sleep(0)
    # subscribed before the second query began: shares it
    later = asyncio.create_task(pages.get("p1", subscribed_at=10.5, query=query))
    other = asyncio.create_task(pages.get("p2", subscribed_at=10.5, query=query))  # another page
    await asyncio.sleep(0)
    gate.set()
    assert [await t for t in (early, late, later, other)] == ["page #1", "page #2", "page #2", "page #3"]
    # a finished query is not kept: the next client asks again
    assert await pages.get("p1", subscribed_at=0.0, query=query) == "page #4"


async def test_a_failed_query_is_not_shared_afterwards() -> None:
    pages: SharedPages[str] = SharedPages(clock=lambda: 10.0)

    async def broken() -> str:
        raise OSError("database away")

    async def fine() -> str:
        return "ok"

    with pytest.raises(OSError, match="database away"):
        await pages.get("p1", subscribed_at=9.0, query=broken)
    assert await pages.get("p1", subscribed_at=9.0, query=fine) == "ok"
