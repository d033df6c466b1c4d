"""Live slots and the anonymous request rate: refusals with a reason and a Retry-After."""

from __future__ import annotations

import pytest

from api.admission import LiveLimits, LiveSlots, PublicRate, Refusal


def test_per_address_bound_applies_to_anonymous_clients_only() -> None:
    slots = LiveSlots(LiveLimits(max_clients=100, keyed_reserve=10, max_per_address=2))
    slots.take("10.0.0.1", keyed=False)
    slots.take("10.0.0.1", keyed=False)
    with pytest.raises(Refusal, match=r"from one address \(2\)") as exc:
        slots.take("10.0.0.1", keyed=False)
    assert exc.value.retry_after_s > 0
    slots.take("10.0.0.2", keyed=False)  # another address is not affected
    for _ in range(5):
        slots.take("10.0.0.1", keyed=True)  # a key is not bound per address
    assert (slots.total, slots.anonymous, slots.refused) == (8, 3, 1)
    slots.give_back("10.0.0.1", keyed=False)
    slots.take("10.0.0.1", keyed=False)  # a slot given back can be taken again


def test_the_keyed_reserve_stays_free_for_keyed_clients() -> None:
    slots = LiveSlots(LiveLimits(max_clients=5, keyed_reserve=2, max_per_address=100))
    for _ in range(3):
        slots.take("a", keyed=False)
    with pytest.raises(Refusal, match="without a key"):
        slots.take("b", keyed=False)
    slots.take("c", keyed=True)
    slots.take("c", keyed=True)
    with pytest.raises(Refusal, match=r"too many live clients \(5\)"):
        slots.take("c", keyed=True)


def test_admit_gives_the_slot_back_whatever_happens() -> None:
    slots = LiveSlots(LiveLimits(max_clients=1, keyed_reserve=0, max_per_address=1))
    with pytest.raises(RuntimeError), slots.admit("a", keyed=False):
        raise RuntimeError("client went away")
    assert slots.total == 0
    assert slots.anonymous == 0
    with slots.admit("a", keyed=False):
        assert slots.total == 1


def test_inconsistent_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        LiveLimits(max_clients=5, keyed_reserve=5, max_per_address=1)


def test_public_rate_refuses_past_the_limit_per_address() -> None:
    rate = PublicRate("3/minute")
    for _ in range(3):
        rate.hit("a")
    with pytest.raises(Refusal, match=r"rate limit exceeded \(3 per 1 minute\)") as exc:
        rate.hit("a")
    assert 1 <= exc.value.retry_after_s <= 60
    rate.hit("b")
    assert rate.refused == 1


def test_an_empty_rate_limits_nothing() -> None:
    rate = PublicRate("")
    for _ in range(1000):
        rate.hit("a")
    assert rate.refused == 0
