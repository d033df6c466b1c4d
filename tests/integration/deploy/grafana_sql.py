"""Turn a provisioned Grafana dashboard's panel SQL into the SQL Grafana would send, as Grafana
documents it for the PostgreSQL data source (with the data source's `timescaledb: true`):

1. template variables (`$var`, `${var}`, `${var:format}`, `[[var]]`): a multi-value or include-All
   variable becomes its values quoted and comma-separated, a single-value one its bare value; All
   (`$__all`) means every option the variable's own query returned;
2. the global substitutions of every SQL data source: `$__interval_ms`, `$__interval`,
   `$__unixEpochFrom()`, `$__unixEpochTo()`;
3. the PostgreSQL macros: `$__time`, `$__timeEpoch`, `$__timeFilter`, `$__timeFrom`, `$__timeTo`,
   `$__timeGroup` (time_bucket), `$__timeGroupAlias`, `$__unixEpochFilter`, `$__unixEpochGroup(Alias)`.

No I/O: the test runs what comes out against a real database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
# Grafana's interval steps (the SQL data sources' rounding of range / max data points).
_NICE = ("1ms", "10ms", "20ms", "50ms", "100ms", "200ms", "500ms", "1s", "2s", "5s", "10s", "15s", "20s", "30s",
         "1m", "2m", "5m", "10m", "15m", "20m", "30m", "1h", "2h", "3h", "6h", "12h", "1d", "1w", "30d", "1y")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")  # Grafana's own pattern (macros.go sExpr)
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")


class MacroError(ValueError):
    """A macro Grafana would refuse (unknown, or missing its arguments)."""


def parse_interval(text: str) -> timedelta:
    match = _INTERVAL.fullmatch(text.strip().strip("'"))
    if match is None:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval: the largest unit that divides it, e.g. 1h, 5m, 1d."""
    ms = round(interval.total_seconds() * 1000)
    for unit, seconds in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if ms >= seconds * 1000 and ms % (seconds * 1000) == 0:
            return f"{ms // (seconds * 1000)}{unit}"
    return f"{ms}ms"


def panel_interval(start: datetime, end: datetime, max_points: int, min_interval: str | None) -> timedelta:
    """$__interval: the range over the panel's data points, rounded up to a step, never below the
    panel's min interval."""
    raw = (end - start) / max_points
    step = next((parse_interval(n) for n in _NICE if parse_interval(n) >= raw), parse_interval(_NICE[-1]))
    return max(step, parse_interval(min_interval)) if min_interval else step


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    values: tuple[str, ...]  # what is selected (All: every option)
    multi: bool  # multi-value or include-All: values are quoted and joined


def variable_from(spec: Mapping[str, Any], options: Sequence[str]) -> Variable:
    """A dashboard's `templating.list` entry with its current selection; `options` are what its query returned."""
    current = spec.get("current", {}).get("value", [])
    selected = [current] if isinstance(current, str) else list(current)
    values = tuple(options) if "$__all" in selected else tuple(selected)
    return Variable(spec["name"], values, bool(spec.get("multi") or spec.get("includeAll")))


def _format(var: Variable, fmt: str | None) -> str:
    if fmt in (None, "sqlstring"):
        if var.multi or fmt == "sqlstring":
            return ",".join(_literal(v) for v in var.values)
        return var.values[0].replace("'", "''") if var.values else ""
    if fmt == "csv":
        return ",".join(var.values)
    if fmt == "raw":
        return ",".join(var.values)
    if fmt == "singlequote":
        return ",".join(_literal(v) for v in var.values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in var.values)
    raise MacroError(f"variable format {fmt!r} is not supported here")


def interpolate_variables(sql: str, variables: Mapping[str, Variable]) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3) or m.group(5)
        fmt = m.group(2) or m.group(4)
        if name.startswith("__") or name not in variables:
            return m.group(0)  # a macro or a global, handled later; an unknown name stays (and fails in SQL)
        return _format(variables[name], fmt)

    return _VARIABLE.sub(replace, sql)


def interpolate_globals(sql: str, start: datetime, end: datetime, interval: timedelta) -> str:
    sql = sql.replace("$__interval_ms", str(round(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(int(start.timestamp())))
    return sql.replace("$__unixEpochTo()", str(int(end.timestamp())))


def _macro(name: str, args: list[str], start: datetime, end: datetime) -> str:
    def needs_column() -> str:
        if not args or not args[0]:
            raise MacroError(f"missing time column argument for macro {name}")
        return args[0]

    if name == "__time":
        return f'{needs_column()} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {needs_column()}) as "time"'
    if name == "__timeFilter":
        return f"{needs_column()} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{_rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{_rfc3339(end)}'"
    if name in ("__timeGroup", "__unixEpochGroup"):
        if len(args) < 2:
            raise MacroError(f"macro {name} needs time column and interval and optional fill value")
        seconds = parse_interval(args[1]).total_seconds()
        if name == "__timeGroup":
            return f"time_bucket('{seconds:.3f}s',{args[0]})"
        return f"floor(({args[0]})/{seconds:g})*{seconds:g}"
    if name in ("__timeGroupAlias", "__unixEpochGroupAlias"):
        return _macro(name.removesuffix("Alias"), args, start, end) + ' AS "time"'
    if name == "__unixEpochFilter":
        column = needs_column()
        return f"{column} >= {int(start.timestamp())} AND {column} <= {int(end.timestamp())}"
    raise MacroError(f'unknown macro "{name}"')


def interpolate_macros(sql: str, start: datetime, end: datetime) -> str:
    def replace(m: re.Match[str]) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        # Before Grafana 5.3 `$__timeGroup(…),` also named the column: Grafana still reads it so.
        if name == "__timeGroup" and sql[m.end():m.end() + 1] == ",":
            name = "__timeGroupAlias"
        return _macro(name, args, start, end)

    return _MACRO.sub(replace, sql)


def expand(sql: str, variables: Mapping[str, Variable], start: datetime, end: datetime, interval: timedelta) -> str:
    """Panel SQL → what Grafana sends to PostgreSQL, in Grafana's order: variables, globals, macros."""
    return interpolate_macros(interpolate_globals(interpolate_variables(sql, variables), start, end, interval),
                              start, end)
