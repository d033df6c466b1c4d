from __future__ import annotations

import pytest

from ingest.batching import BatchPolicy


@pytest.mark.parametrize(
    ("size", "age", "due"),
    [(0, 10.0, False), (1, 0.0, False), (1, 0.2, True), (99, 0.1, False), (100, 0.0, True), (150, 0.0, True)],
)
def test_due_by_size_or_age(size: int, age: float, due: bool) -> None:
    policy = BatchPolicy(max_messages=100, max_age_s=0.2)
    assert policy.due(size, oldest_arrival=50.0, now=50.0 + age) is due


def test_time_left_never_negative() -> None:
    policy = BatchPolicy(10, 0.2)
    assert policy.time_left(1.0, 1.05) == pytest.approx(0.15)
    assert policy.time_left(1.0, 9.0) == 0.0


@pytest.mark.parametrize(("n", "age"), [(0, 1.0), (10, 0.0), (10, -1.0)])
def test_policy_refuses_nonsense(n: int, age: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        BatchPolicy(n, age)
