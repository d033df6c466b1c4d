"""Alert rules: when a (rule, sensor) fires and resolves, and what the notification says. Pure.

Each check observes, per sensor the rule covers, whether its condition holds (with the value
that made it so). `step` turns that and the stored state into the new state and at most one
transition. Against flapping: a threshold resolves only once the value is back past the
threshold by a margin (HYSTERESIS of the threshold, at least MIN_MARGIN), and any rule resolves
only after its condition was off in CLEAR_RUNS consecutive checks.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import orjson

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
HYSTERESIS = 0.05
MIN_MARGIN = 1e-9
CLEAR_RUNS = 2


@dataclass(frozen=True, slots=True)
class State:
    state: str  # "pending" (holds, not yet for_s long) or "firing"
    since: datetime
    value: float | None
    detail: str = ""
    clear_runs: int = 0


@dataclass(frozen=True, slots=True)
class Observation:
    holds: bool  # the condition (for a threshold: with the hysteresis applied when firing)
    value: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class Transition:
    state: str  # "firing" | "resolved"
    value: float | None
    time: datetime
    detail: str


def margin(threshold: float) -> float:
    return max(abs(threshold) * HYSTERESIS, MIN_MARGIN)


def threshold_holds(op: str, value: float, threshold: float, firing: bool) -> bool:
    """Whether a threshold condition holds; once firing, it holds until the value is back past the
    threshold by the margin (fill_level >= 90 fires at 90 and resolves below 85.5)."""
    if not firing:
        return OPS[op](value, threshold)
    m = margin(threshold)
    shifted = threshold - m if op in (">", ">=") else threshold + m
    return OPS[op](value, shifted)


def step(prev: State | None, seen: Observation, now: datetime, for_s: float
         ) -> tuple[State | None, Transition | None]:
    """The new state of one (rule, sensor) and the transition to notify, if any."""
    if seen.holds:
        if prev is None:
            prev = State("pending", now, seen.value, seen.detail)
        if prev.state == "pending" and (now - prev.since).total_seconds() >= for_s:
            return (State("firing", now, seen.value, seen.detail),
                    Transition("firing", seen.value, now, seen.detail))
        return replace(prev, value=seen.value, detail=seen.detail, clear_runs=0), None
    if prev is None:
        return None, None
    if prev.state == "pending":
        return None, None  # never fired: nothing to resolve
    runs = prev.clear_runs + 1
    if runs < CLEAR_RUNS:
        return replace(prev, clear_runs=runs), None
    return None, Transition("resolved", seen.value, now, seen.detail)


def body(rule_name: str, sensor_id: str, t: Transition) -> bytes:
    """The webhook's (and the MQTT topic's) JSON, in the contract's shape."""
    return orjson.dumps({"rule": rule_name, "sensor_id": sensor_id, "state": t.state, "value": t.value,
                         "time": t.time.isoformat(), "detail": t.detail})


def signature(secret: str, payload: bytes) -> str:
    """`X-Citysense-Signature`: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def topic(rule_id: int, sensor_id: str) -> str:
    return f"citysense/alerts/{rule_id}/{sensor_id}"
