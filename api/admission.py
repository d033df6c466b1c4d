"""Who may come in: live-client slots and the request rate of callers without a key.

Both are answered before any work is done for the caller (no database, no snapshot), so refusing
2,000 attempts costs next to nothing. A refusal says when to come back (`Retry-After`).

* Live slots: at most `max_clients` live clients in this process; the last `keyed_reserve` of them
  only for clients with a key, so anonymous clients cannot lock out the city's own dashboards; and
  at most `max_per_address` anonymous clients per client address.
* Request rate: the `limits` library's fixed windows per client address, for callers without a key.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter


class Refusal(Exception):
    """Come back later: `reason` is for the caller, `retry_after_s` for its Retry-After header."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LiveLimits:
    max_clients: int
    keyed_reserve: int
    max_per_address: int
    retry_after_s: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.keyed_reserve < self.max_clients or self.max_per_address < 1:
            raise ValueError(f"inconsistent live limits: {self}")


class LiveSlots:
    """Counts live clients; `admit` is a context manager that holds one slot while the client is connected."""

    def __init__(self, limits: LiveLimits) -> None:
        self.limits = limits
        self.total = 0
        self.anonymous = 0
        self._per_address: Counter[str] = Counter()
        self.refused = 0

    def _check(self, address: str, keyed: bool) -> None:
        lim = self.limits
        if self.total >= lim.max_clients:
            raise Refusal(f"too many live clients ({lim.max_clients})", lim.retry_after_s)
        if keyed:
            return
        if self.anonymous >= lim.max_clients - lim.keyed_reserve:
            raise Refusal(f"too many live clients without a key ({lim.max_clients - lim.keyed_reserve})",
                          lim.retry_after_s)
        if self._per_address[address] >= lim.max_per_address:
            raise Refusal(f"too many live clients from one address ({lim.max_per_address})", lim.retry_after_s)

    def take(self, address: str, keyed: bool) -> None:
        """Take a slot (raises Refusal); every take is matched by one `give_back`."""
        try:
            self._check(address, keyed)
        except Refusal:
            self.refused += 1
            raise
        self.total += 1
        if not keyed:
            self.anonymous += 1
            self._per_address[address] += 1

    def give_back(self, address: str, keyed: bool) -> None:
        self.total -= 1
        if not keyed:
            self.anonymous -= 1
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]

    @contextmanager
    def admit(self, address: str, keyed: bool) -> Iterator[None]:
        self.take(address, keyed)
        try:
            yield
        finally:
            self.give_back(address, keyed)


class PublicRate:
    """The request-rate limit for callers without a key; `rate` in the `limits` notation
    (`20/second;600/minute`), empty for none."""

    def __init__(self, rate: str) -> None:
        self.items: list[RateLimitItem] = parse_many(rate) if rate.strip() else []
        self._limiter = FixedWindowRateLimiter(MemoryStorage())
        self.refused = 0

    def hit(self, address: str) -> None:
        """Count one request from `address`; raises Refusal when it is over any of the limits."""
        for item in self.items:
            if not self._limiter.hit(item, address):
                self.refused += 1
                reset = self._limiter.get_window_stats(item, address).reset_time
                raise Refusal(f"rate limit exceeded ({item}) for callers without a key",
                              max(1, math.ceil(reset - time.time())))
