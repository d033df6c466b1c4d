"""The loop both pollers share: a cycle, then wait; back off after errors; stop on SIGTERM (I/O)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
import asyncpg
import httpx

from citysense.backoff import backoff
from ingest.pollers import telemetry


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one cycle did; `wait_s` overrides the interval (a Retry-After), when set."""

    errors: int
    wait_s: float | None = None


class Stopper:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.event.set)

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until asked to stop; True when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout=max(0.0, seconds))
        return self.event.is_set()


async def run(name: str, cycle: Callable[[], Awaitable[Outcome]], interval_s: float, once: bool,
              stopper: Stopper, log: logging.Logger) -> int:
    """Cycles until stopped (or one, with `once`); the exit code is 1 when the last cycle had errors."""
    delays = backoff(initial=5.0, cap=min(600.0, max(5.0, interval_s)))
    while True:
        started = time.monotonic()
        try:
            outcome = await cycle()
        except (OSError, asyncpg.PostgresError, aiomqtt.MqttError, httpx.HTTPError) as exc:
            # An outside service is away (database, broker, API): one line, then back off.
            log.warning("%s: cycle failed: %s: %s", name, type(exc).__name__, exc)
            telemetry.ERRORS.labels(name).inc()
            outcome = Outcome(errors=1)
        except Exception as exc:  # a cycle must never end the poller: log with the trace, back off, retry
            log.exception("%s: cycle failed: %s", name, exc)
            telemetry.ERRORS.labels(name).inc()
            outcome = Outcome(errors=1)
        if outcome.errors == 0:
            telemetry.LAST_SUCCESS.labels(name).set_to_current_time()
            delays = backoff(initial=5.0, cap=min(600.0, max(5.0, interval_s)))
        if once or stopper.event.is_set():
            return 1 if outcome.errors else 0
        if outcome.wait_s is not None:
            wait = outcome.wait_s
        elif outcome.errors:
            wait = next(delays)
        else:
            wait = interval_s - (time.monotonic() - started)
        if await stopper.sleep(wait):
            return 0
