"""`citysense poll telraam`: Telraam's traffic reports API → `telraam/<segment>/traffic` (I/O).

Per pass: the segments (the registry's `telraam:<segment>` sensors, or --segments), each one's
last stored hour (from the database, so restarts neither skip nor repeat), the complete hours
since then cut into the API's largest window, one call per window spaced under the daily call
budget, each row published at QoS 1 before the next window is asked for.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from citysense.settings import Settings
from ingest.pollers import hours, publishing, telemetry, telraam_rows
from ingest.pollers.budget import Budget, retry_after_s
from ingest.pollers.running import Outcome, Stopper

log = logging.getLogger("citysense.poll.telraam")
NAME = "telraam"
PATH = "/v1/reports/traffic"
_RETRY_DEFAULT_S = 60.0
_MAX_RETRIES = 5  # 429/503 answers for one window before the pass gives up (the next pass re-plans)

# The hourly rollup, written in the same transaction as the raw rows, has a row per stored
# Telraam hour (their times are whole hours) in 30-day chunks: cheaper than the raw table.
_LAST_STORED = """
SELECT sensor_id, max(bucket) AS last FROM readings_hourly
WHERE sensor_id = ANY($1::text[]) GROUP BY sensor_id
"""
_REGISTRY = "SELECT split_part(id, ':', 2) FROM sensors WHERE id LIKE 'telraam:%' ORDER BY id"


@dataclass(frozen=True, slots=True)
class Options:
    segments: tuple[str, ...] | None  # None: the registry's telraam sensors
    since: datetime | None  # None: CITYSENSE_TELRAAM_BACKFILL_DAYS back


class RateLimited(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"rate limited, retry after {wait_s:.0f}s")
        self.wait_s = wait_s


@dataclass
class TelraamPoller:
    settings: Settings
    options: Options
    stopper: Stopper
    cursor: dict[str, datetime] = field(default_factory=dict)  # per segment, this process's own progress
    last_call: float | None = None

    @property
    def budget(self) -> Budget:
        return Budget(self.settings.telraam_daily_calls)

    async def _segments(self, conn: asyncpg.Connection) -> list[str]:
        if self.options.segments is not None:
            return list(self.options.segments)
        return [r[0] for r in await conn.fetch(_REGISTRY)]

    async def _plan(self, conn: asyncpg.Connection, now: datetime) -> tuple[list[str], list[hours.Window]]:
        segments = await self._segments(conn)
        ids = [f"telraam:{s}" for s in segments]
        last = {r["sensor_id"]: r["last"] for r in await conn.fetch(_LAST_STORED, ids)}
        since = self.options.since or now - timedelta(days=self.settings.telraam_backfill_days)
        end = hours.complete_until(now)
        plan: list[hours.Window] = []
        for seg in segments:
            start = hours.resume_from(last.get(f"telraam:{seg}"), since)
            start = max(start, self.cursor.get(seg, start))
            plan += hours.windows(seg, start, end, timedelta(days=self.settings.telraam_max_window_days))
        return segments, plan

    async def _call(self, http: httpx.AsyncClient, window: hours.Window) -> list[object]:
        wait = self.budget.wait_s(self.last_call, time.monotonic())
        if wait > 0 and await self.stopper.sleep(wait):
            raise InterruptedError
        self.last_call = time.monotonic()
        body = telraam_rows.request_body(window.segment, hours.telraam_time(window.start),
                                         hours.telraam_time(window.end))
        answer = await http.post(PATH, content=body, headers={"Content-Type": "application/json"})
        if answer.status_code in (429, 503):
            telemetry.CALLS.labels(NAME, str(answer.status_code)).inc()
            raise RateLimited(retry_after_s(answer.headers.get("Retry-After"), datetime.now(UTC), _RETRY_DEFAULT_S))
        telemetry.CALLS.labels(NAME, str(answer.status_code)).inc()
        answer.raise_for_status()
        return telraam_rows.report_rows(answer.content)

    async def _window(self, http: httpx.AsyncClient, window: hours.Window) -> list[object]:
        for _ in range(_MAX_RETRIES):
            try:
                return await self._call(http, window)
            except RateLimited as limited:
                log.warning("telraam: segment %s: %s", window.segment, limited)
                if await self.stopper.sleep(limited.wait_s):
                    raise InterruptedError from None
        raise RateLimited(_RETRY_DEFAULT_S)

    async def cycle(self) -> Outcome:
        now = datetime.now(UTC)
        conn = await asyncpg.connect(self.settings.database_url, timeout=10)
        try:
            segments, plan = await self._plan(conn, now)
        finally:
            await conn.close()
        backlog = sum(w.hours for w in plan)
        telemetry.BACKLOG_HOURS.set(backlog)
        if plan and (len(plan) > len(segments) or backlog > 24):
            log.info("telraam: backfilling %d h in %d call(s) for %d segment(s), a call every %.0f s at most",
                     backlog, len(plan), len({w.segment for w in plan}), self.budget.spacing_s)
        calls = records = errors = 0
        headers = {"X-Api-Key": self.settings.telraam_api_key}
        async with (httpx.AsyncClient(base_url=self.settings.telraam_url, headers=headers, timeout=60) as http,
                    publishing.client(self.settings.mqtt, NAME) as mqtt):
            for i, window in enumerate(plan):
                try:
                    rows = await self._window(http, window)
                except InterruptedError:
                    break
                except (httpx.HTTPError, telraam_rows.AnswerError, RateLimited) as exc:
                    errors += 1
                    telemetry.ERRORS.labels(NAME).inc()
                    log.warning("telraam: segment %s %s..%s: %s", window.segment, window.start, window.end, exc)
                    break  # the API is unwell: back off; the next pass re-plans from the database
                calls += 1
                records += await publishing.send(mqtt, telraam_rows.messages(window.segment, rows))
                telemetry.RECORDS.labels(NAME).inc(len(rows))
                self.cursor[window.segment] = hours.advance(window, telraam_rows.last_hour(rows), now)
                backlog -= window.hours
                telemetry.BACKLOG_HOURS.set(backlog)
                if len(plan) > 1:
                    log.info("telraam: segment %s %s..%s: %d row(s); %d of %d call(s) done, %d h left",
                             window.segment, hours.telraam_time(window.start), hours.telraam_time(window.end),
                             len(rows), i + 1, len(plan), backlog)
        log.info("telraam: pass: %d segment(s), %d call(s), %d report row(s) published, %d error(s)",
                 len(segments), calls, records, errors)
        return Outcome(errors=errors)
