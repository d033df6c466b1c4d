"""Spreading API calls under a daily budget, and reading `Retry-After` (pure).

Telraam's free tier allows few calls a day, so the poller never bursts: consecutive calls are at
least a day divided by the budget apart. A 429 or 503 answer says how long to wait in
`Retry-After`, as seconds or as an HTTP date (RFC 9110 §10.2.3); that wait overrides the spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Budget:
    calls_per_day: int

    @property
    def spacing_s(self) -> float:
        """The least time between two calls so a day never holds more than the budget."""
        return DAY_S / self.calls_per_day if self.calls_per_day > 0 else 0.0

    def wait_s(self, last_call_at: float | None, now: float) -> float:
        """How long to wait before the next call, given when (monotonic seconds) the last one went out."""
        if last_call_at is None:
            return 0.0
        return max(0.0, last_call_at + self.spacing_s - now)


def retry_after_s(header: str | None, now: datetime, default_s: float) -> float:
    """Seconds to wait from a `Retry-After` value; `default_s` when it is missing or unreadable."""
    if header is None or not header.strip():
        return default_s
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return default_s
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
