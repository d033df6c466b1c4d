"""When a batch is due, and how long to wait before retrying a failed write. Pure."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """A batch is written when it holds `max_messages` or its oldest message is `max_age_s` old."""

    max_messages: int
    max_age_s: float

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {self.max_messages}")
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {self.max_age_s}")

    def due(self, size: int, oldest_arrival: float, now: float) -> bool:
        return size >= self.max_messages or (size > 0 and now - oldest_arrival >= self.max_age_s)

    def time_left(self, oldest_arrival: float, now: float) -> float:
        return max(0.0, self.max_age_s - (now - oldest_arrival))


def backoff(
    initial: float = 0.5, factor: float = 2.0, cap: float = 30.0, jitter: float = 0.2,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Exponential delays with ± `jitter` spread, so replicas do not retry in lockstep."""
    rand = rng or random.Random()
    delay = initial
    while True:
        yield delay * (1 + jitter * (2 * rand.random() - 1))
        delay = min(cap, delay * factor)
