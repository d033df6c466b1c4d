from __future__ import annotations

import itertools
import random

from citysense.backoff import backoff


def test_backoff_grows_to_cap_with_bounded_jitter() -> None:
    delays = list(itertools.islice(backoff(0.5, 2.0, 8.0, 0.2, random.Random(1)), 8))
    nominal = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for got, want in zip(delays, nominal, strict=True):
        assert want * 0.8 <= got <= want * 1.2
