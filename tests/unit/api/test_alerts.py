from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from api.analysis.alerts import CLEAR_RUNS, Observation, State, Transition, body, signature, step, threshold_holds

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run(values: list[bool], for_s: float = 0.0, every_s: float = 5.0) -> list[tuple[int, str]]:
    """Feed a sequence of checks; the transitions as (check index, state)."""
    state: State | None = None
    out: list[tuple[int, str]] = []
    for i, holds in enumerate(values):
        state, t = step(state, Observation(holds, 1.0, ""), T0 + timedelta(seconds=i * every_s), for_s)
        if t is not None:
            out.append((i, t.state))
    return out


def test_fires_once_and_resolves_once() -> None:
    assert run([False, True, True, True, False, False, False]) == [(1, "firing"), (5, "resolved")]


def test_one_quiet_check_does_not_resolve_against_flapping() -> None:
    assert CLEAR_RUNS == 2
    assert run([True, False, True, False, True, False, False]) == [(0, "firing"), (6, "resolved")]


def test_for_s_waits_before_firing_and_a_pending_condition_never_resolves() -> None:
    assert run([True, True, True, True], for_s=10.0) == [(2, "firing")]
    assert run([True, True, False, False, False], for_s=10.0) == []


@pytest.mark.parametrize(
    ("op", "threshold", "value", "firing", "holds"),
    [
        (">=", 90.0, 90.0, False, True),
        (">=", 90.0, 89.9, False, False),
        (">=", 90.0, 86.0, True, True),  # firing: holds until below 90 - 4.5
        (">=", 90.0, 85.4, True, False),
        ("<", 5.0, 4.9, False, True),
        ("<", 5.0, 5.2, True, True),  # firing: holds until 5.25 or more
        ("<", 5.0, 5.3, True, False),
        (">", 25.0, 25.0, False, False),
    ],
)
def test_threshold_hysteresis(op: str, threshold: float, value: float, firing: bool, holds: bool) -> None:
    assert threshold_holds(op, value, threshold, firing) is holds


def test_body_is_the_contract_shape_and_the_signature_is_hmac_sha256_of_it() -> None:
    payload = body("bin full", "ttn:bin-1", Transition("firing", 93.0, T0, "fill_level latest 93 >= 90"))
    assert orjson.loads(payload) == {"rule": "bin full", "sensor_id": "ttn:bin-1", "state": "firing", "value": 93.0,
                                     "time": T0.isoformat(), "detail": "fill_level latest 93 >= 90"}
    expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
    assert signature("s3cret", payload) == f"sha256={expected}"
