"""How long to wait before retrying: a failed write, a lost broker, an unreachable live bus. Pure."""

from __future__ import annotations

import random
from collections.abc import Iterator


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
