"""api.read_route: which pool a read goes to, and when an unreachable replica is tried again.
The pools are stand-ins with asyncpg.Pool's acquire/release; the real replica is in
tests/integration/api/test_api_read_replica.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
import pytest

from api.read_route import RETRY_S, ReadRoute


class Conn:
    async def fetchval(self, sql: str) -> int:
        return 1


class Acquiring:
    """What asyncpg.Pool.acquire returns: awaitable (a connection to release) or `async with`."""

    def __init__(self, pool: Replica) -> None:
        self.pool = pool

    def __await__(self) -> Generator[Any, None, str]:
        return self._get().__await__()

    async def _get(self) -> str:
        if self.pool.hang:
            await asyncio.sleep(3600)
        if self.pool.fail is not None:
            raise self.pool.fail
        self.pool.out += 1
        return "replica"

    async def __aenter__(self) -> Conn:
        await self._get()
        return Conn()

    async def __aexit__(self, *exc: object) -> None:
        self.pool.out -= 1


class Replica:
    """asyncpg.Pool's acquire/release, failing with `fail` when set, never answering with `hang`."""

    def __init__(self) -> None:
        self.fail: BaseException | None = None
        self.hang = False
        self.out = 0

    def acquire(self, timeout: float | None = None) -> Acquiring:
        return Acquiring(self)

    async def release(self, conn: str) -> None:
        self.out -= 1

    async def close(self) -> None:
        pass


class Primary:
    """asyncpg.Pool's `async with pool.acquire() as conn`."""

    def __init__(self) -> None:
        self.out = 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[str]:
        self.out += 1
        try:
            yield "primary"
        finally:
            self.out -= 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def route(clock: Clock) -> tuple[ReadRoute, Primary, Replica]:
    primary, replica = Primary(), Replica()
    return ReadRoute(cast(asyncpg.Pool, primary), cast(asyncpg.Pool, replica), clock=clock), primary, replica


async def where(r: ReadRoute) -> str:
    async with r.acquire() as conn:
        return cast(str, conn)


async def test_reads_go_to_the_replica_and_are_released() -> None:
    r, primary, replica = route(Clock())
    assert await where(r) == "replica"
    assert replica.out == 0
    assert primary.out == 0
    assert r.replica_state == "ok"


async def test_without_a_replica_reads_go_to_the_primary() -> None:
    primary = Primary()
    r = ReadRoute(cast(asyncpg.Pool, primary), None)
    assert await where(r) == "primary"
    assert r.replica_state == "off"
    assert r.fallbacks == 0


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "refused"), TimeoutError(),
                                   asyncpg.CannotConnectNowError("the database system is starting up")])
async def test_an_unreachable_replica_is_left_alone_for_the_retry_window(error: BaseException) -> None:
    clock = Clock()
    r, _, replica = route(clock)
    replica.fail = error
    assert await where(r) == "primary"
    assert r.replica_state == f"unreachable: {type(error).__name__} (reads go to the primary)"
    replica.fail = None  # back, but not tried again before the window is over
    clock.now += RETRY_S - 1
    assert await where(r) == "primary"
    assert r.fallbacks == 2
    clock.now += 1
    assert await where(r) == "replica"
    assert r.replica_state == "ok"


async def test_a_connection_lost_under_a_query_fails_that_read_and_spares_the_next() -> None:
    r, _, replica = route(Clock())
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        async with r.acquire():
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    assert replica.out == 0
    assert await where(r) == "primary"


async def test_a_query_error_is_not_a_lost_replica() -> None:
    r, _, _ = route(Clock())
    with pytest.raises(asyncpg.UndefinedTableError):
        async with r.acquire():
            raise asyncpg.UndefinedTableError("relation does not exist")
    assert r.replica_state == "ok"
    assert await where(r) == "replica"


async def test_mark_up_ends_the_window_at_once() -> None:
    r, _, _ = route(Clock())
    r.mark_down(OSError("unreachable"))
    assert await where(r) == "primary"
    r.mark_up()
    assert await where(r) == "replica"


async def test_a_probe_marks_the_replica_down_and_up_again() -> None:
    r, _, replica = route(Clock())
    replica.fail = ConnectionRefusedError(111, "refused")
    await r.probe(wait_s=1)
    assert r.replica_state.startswith("unreachable: ConnectionRefusedError")
    replica.fail = None
    await r.probe(wait_s=1)
    assert r.replica_state == "ok"
    assert replica.out == 0


async def test_a_probe_that_gets_no_answer_does_not_hold_up_its_caller() -> None:
    r, _, replica = route(Clock())
    replica.hang = True
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await r.probe(wait_s=0.05)
    await r.probe(wait_s=0.05)  # the same probe, still running: not a second one
    assert loop.time() - t0 < 1
    assert r.replica_state == "ok"  # nothing known yet
    await r.close()


async def test_a_misconfigured_replica_sends_the_reads_to_the_primary() -> None:
    r, _, replica = route(Clock())
    replica.fail = asyncpg.InvalidPasswordError('password authentication failed for user "citysense"')
    assert await where(r) == "primary"
    assert r.replica_state == "unreachable: InvalidPasswordError (reads go to the primary)"
