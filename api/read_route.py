"""Where the API's read-only queries go: the streaming replica of CITYSENSE_DATABASE_READ_URL while
it can be reached, the primary while it cannot.

A replica is there to keep heavy reads off the primary, not to be a second way for the API to fail:
when a connection to it cannot be made (refused, reset, timed out, the server starting or shutting
down), the request is answered from the primary, and the replica is left alone for RETRY_S before
it is tried again. So the one request that found it down waits at most CONNECT_TIMEOUT_S, and the
next RETRY_S seconds of requests go straight to the primary. A query that fails *on* a replica
connection (one that dies mid-query) still fails that request, because that error surfaces in the
route after the connection was handed over; it marks the replica down, so the next request falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
RETRY_S = 30.0

# What "the database cannot be reached" looks like from asyncpg while a connection is being made (the
# primary's /health check uses it too): the socket (OSError: refused, reset, no route), the pool's wait
# (TimeoutError), and any error the server answers before a query ran (starting, shutting down, too
# many clients, but also a wrong password or database name: a misconfigured replica should cost the
# primary load and show in /health, not fail every read).
UNREACHABLE: tuple[type[BaseException], ...] = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


# A replica connection that died under a query (the server stopped, the network went).
LOST: tuple[type[BaseException], ...] = (
    OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


class ReadRoute:
    """The replica's pool when configured (`replica`), else reads go to `primary` only."""

    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool | None, *,
                 retry_s: float = RETRY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.primary = primary
        self.replica = replica
        self._retry_s = retry_s
        self._clock = clock
        self._down_until = float("-inf")
        self.last_error = ""
        self.fallbacks = 0  # reads answered by the primary because the replica could not be reached
        self._probe: asyncio.Task[None] | None = None

    @property
    def replica_down(self) -> bool:
        """A replica is configured and its reads go to the primary for now."""
        return self.replica is not None and self._clock() < self._down_until

    @property
    def replica_state(self) -> str:
        """`off` (no replica configured), `ok`, or `unreachable: <error>` while reads go to the primary."""
        if self.replica is None:
            return "off"
        return f"unreachable: {self.last_error} (reads go to the primary)" if self.replica_down else "ok"

    def mark_down(self, exc: BaseException) -> None:
        first = not self.replica_down
        self._down_until = self._clock() + self._retry_s
        self.last_error = type(exc).__name__
        if first:
            log.warning("read replica unreachable (%s: %s): reads go to the primary, trying it again in %.0f s",
                        type(exc).__name__, exc, self._retry_s)

    def mark_up(self) -> None:
        if self.replica_down:
            log.warning("read replica answers again: reads go to it")
        self._down_until = float("-inf")

    async def probe(self, wait_s: float) -> None:
        """Ask the replica itself whether it answers (marking it up or down), waiting at most `wait_s`
        for the answer; a probe still running then goes on in the background, and only one runs."""
        if self.replica is None:
            return
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._ask(self.replica), name="read-replica-probe")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._probe), wait_s)

    async def _ask(self, replica: asyncpg.Pool) -> None:
        try:
            async with replica.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                await conn.fetchval("SELECT 1")
        except UNREACHABLE as exc:
            self.mark_down(exc)
        else:
            self.mark_up()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self.replica is not None:
            if not self.replica_down:
                try:
                    conn = await self.replica.acquire(timeout=CONNECT_TIMEOUT_S)
                except UNREACHABLE as exc:
                    self.mark_down(exc)
                else:
                    try:
                        yield conn
                    except LOST as exc:  # it went away under this request: spare the next ones
                        self.mark_down(exc)
                        raise
                    finally:
                        await self.replica.release(conn)
                    return
            self.fallbacks += 1
        async with self.primary.acquire() as conn:
            yield conn

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.replica is not None:
            await self.replica.close()
