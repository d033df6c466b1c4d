"""Alert rules (admin) and the alerts firing now. The evaluator is api/alerting.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field, HttpUrl, model_validator

from api.analysis.health import SEVERITY
from api.deps import AdminAccess, Conn, ReadAccess
from api.queries import alerts as q
from models.districts import DISTRICTS
from models.metrics import METRICS, Kind

router = APIRouter(prefix="/api/v1", tags=["alerts"])

Problem = Literal["silent", "late", "stuck", "out_of_range", "rejecting", "low_battery", "clock_skew", "low_uptime"]
assert set(Problem.__args__) == {k.value for k in SEVERITY}  # type: ignore[attr-defined]


class AlertRuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    metric: str | None = None
    op: Literal[">", ">=", "<", "<="] | None = None
    threshold: float | None = None
    window: float | None = Field(default=None, gt=0, description="seconds; absent: the latest value")
    agg: Literal["avg", "min", "max", "sum", "count"] | None = None
    for_s: float = Field(default=0.0, ge=0, description="the condition must hold this long before it fires")
    problem: Problem | None = None
    kind: list[Kind] | None = None
    district: list[str] | None = None
    sensor: list[str] | None = None
    webhook: HttpUrl | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> AlertRuleIn:
        threshold = (self.metric, self.op, self.threshold)
        if self.problem is not None:
            if any(v is not None for v in threshold) or self.window is not None or self.agg is not None:
                raise ValueError("a rule is either a problem or a metric threshold, not both")
        elif any(v is None for v in threshold):
            raise ValueError("a threshold rule needs metric, op and threshold (or give problem)")
        if self.metric is not None and self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}")
        if self.agg is not None and self.window is None:
            raise ValueError("agg needs a window")
        for d in self.district or ():
            if d not in DISTRICTS:
                raise ValueError(f"unknown district {d!r}; one of {', '.join(DISTRICTS)}")
        return self


class AlertRule(BaseModel):
    id: int
    name: str
    metric: str | None
    op: str | None
    threshold: float | None
    window: float | None
    agg: str | None
    for_s: float
    problem: str | None
    kind: list[str] | None
    district: list[str] | None
    sensor: list[str] | None
    webhook: str | None
    created_at: datetime


class AlertRuleList(BaseModel):
    data: list[AlertRule]


class Alert(BaseModel):
    rule_id: int
    rule: str
    sensor_id: str
    since: datetime
    value: float | None
    detail: str


class AlertList(BaseModel):
    data: list[Alert]


def _out(row: Any) -> AlertRule:
    r = dict(row)
    r["kind"], r["district"], r["sensor"] = r.pop("kinds"), r.pop("districts"), r.pop("sensors")
    return AlertRule(**r)


@router.post("/alerts/rules", response_model=AlertRule, status_code=201, summary="create an alert rule (admin)",
              description="A rule is a metric threshold (`metric`, `op`, `threshold`; optional `window` in seconds "
                          "with `agg`, and `for_s`) or a health `problem`; optional filters `kind`, `district`, "
                          "`sensor` and a `webhook` URL. docs/fleet-health.md#alerts says how it is evaluated.")
async def create_rule(rule: AlertRuleIn, conn: Conn, _: AdminAccess) -> AlertRule:
    return _out(await q.insert_rule(conn, rule.model_dump(mode="json")))


@router.get("/alerts/rules", response_model=AlertRuleList, summary="the alert rules (admin)",
             description="Every rule, oldest first.")
async def list_rules(conn: Conn, _: AdminAccess) -> AlertRuleList:
    return AlertRuleList(data=[_out(r) for r in await q.rules(conn)])


@router.delete("/alerts/rules/{rule_id}", status_code=204, summary="delete an alert rule (admin)",
               description="Deletes the rule and the state of its alerts; nothing more is notified for it.")
async def delete_rule(
    rule_id: Annotated[int, Path(ge=1, description="the rule's `id`")], conn: Conn, _: AdminAccess
) -> None:
    if not await q.delete_rule(conn, rule_id):
        raise HTTPException(404, f"no alert rule {rule_id}")


@router.get("/alerts", response_model=AlertList, summary="the alerts firing now",
             description="One entry per rule and sensor whose condition holds and was notified as firing.")
async def firing(conn: Conn, _: ReadAccess) -> AlertList:
    return AlertList(data=[Alert(**dict(r)) for r in await q.firing(conn)])
