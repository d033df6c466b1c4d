"""Pure parts of the bench: expected rows, latency matching, percentiles, targets, the table.

No I/O here: everything takes arrays or dicts and returns values, so it is unit-tested
(tests/unit/bench/test_report.py) apart from the brokers and databases of the stages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

KEY_SHIFT = 32  # a reading's key: pair id << 32 | (time ms - the set's time base)
_TIME_SPAN = 1 << KEY_SHIFT


# --- what the database must hold ---------------------------------------------------------------------


def reading_keys(pair: NDArray[np.int32], time_ms: NDArray[np.int64], base_ms: int) -> NDArray[np.int64]:
    """One int64 per timed reading naming (sensor, metric, time); -1 for untimed readings or times
    outside the key's span (they cannot be matched)."""
    offset = time_ms - base_ms
    ok = (time_ms >= 0) & (offset >= 0) & (offset < _TIME_SPAN)
    keys = (pair.astype(np.int64) << KEY_SHIFT) | np.where(ok, offset, 0)
    return np.where(ok, keys, -1)


def expected_counts(pair: NDArray[np.int32], time_ms: NDArray[np.int64], base_ms: int, pairs: int
                    ) -> NDArray[np.int64]:
    """Rows per (sensor, metric) pair id after ingesting these readings once or more: one per distinct
    timed (sensor, metric, time), and one per untimed reading (ingest stamps each with its receive time)."""
    keys = reading_keys(pair, time_ms, base_ms)
    timed = np.unique(keys[keys >= 0]) >> KEY_SHIFT
    untimed = pair[time_ms < 0]
    return (np.bincount(timed, minlength=pairs) + np.bincount(untimed, minlength=pairs)).astype(np.int64)


def compare_counts(expected: Mapping[tuple[str, str], int], actual: Mapping[tuple[str, str], int]
                   ) -> dict[str, Any]:
    """Rows per (sensor, metric): exactly as expected, or how many are missing and how many extra."""
    missing = extra = mismatched = 0
    examples: list[str] = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key, 0), actual.get(key, 0)
        if e == a:
            continue
        mismatched += 1
        missing += max(0, e - a)
        extra += max(0, a - e)
        if len(examples) < 5:
            examples.append(f"{key[0]} {key[1]}: expected {e}, found {a}")
    return {
        "expected_rows": int(sum(expected.values())), "rows": int(sum(actual.values())),
        "missing": missing, "extra": extra, "pairs": len(expected), "pairs_mismatched": mismatched,
        "examples": examples, "ok": mismatched == 0,
    }


# --- latency -------------------------------------------------------------------------------------------


def bus_readings(arrivals: Iterable[tuple[float, bytes]]) -> tuple[NDArray[np.float64], list[str], list[str],
                                                                    NDArray[np.int64]]:
    """Live-bus messages (arrival wall clock, body) → per reading: arrival, sensor, metric, time ms."""
    at: list[float] = []
    sensors: list[str] = []
    metrics: list[str] = []
    times: list[int] = []
    for t, payload in arrivals:
        body = orjson.loads(payload)
        n = len(body["t"])
        at.extend([t] * n)
        sensors.extend(body["s"])
        metrics.extend(body["m"])
        times.extend(body["t"])
    return np.array(at, dtype=np.float64), sensors, metrics, np.array(times, dtype=np.int64)


def commit_times(expected_keys: NDArray[np.int64], expected_msg: NDArray[np.int64], messages: int,
                 seen_keys: NDArray[np.int64], seen_at: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per message, the earliest arrival on the bus of any of its readings (NaN: none seen)."""
    out = np.full(messages, np.nan)
    valid = expected_keys >= 0
    keys, msgs = expected_keys[valid], expected_msg[valid]
    order = np.argsort(keys, kind="stable")
    keys, msgs = keys[order], msgs[order]
    seen_ok = seen_keys >= 0
    sk, sa = seen_keys[seen_ok], seen_at[seen_ok]
    if not len(keys) or not len(sk):
        return out
    pos = np.clip(np.searchsorted(keys, sk), 0, len(keys) - 1)
    hit = keys[pos] == sk
    firsts = np.full(messages, np.inf)
    np.minimum.at(firsts, msgs[pos[hit]], sa[hit])
    out[np.isfinite(firsts)] = firsts[np.isfinite(firsts)]
    return out


def percentiles_ms(seconds: NDArray[np.float64]) -> dict[str, Any]:
    """p50/p90/p99/max in milliseconds of the finite values; n: how many."""
    x = seconds[np.isfinite(seconds)]
    if not len(x):
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    p50, p90, p99 = np.percentile(x, [50, 90, 99]) * 1000
    return {"n": len(x), "p50_ms": round(float(p50), 1), "p90_ms": round(float(p90), 1),
            "p99_ms": round(float(p99), 1), "max_ms": round(float(x.max()) * 1000, 1)}


# --- /proc parsing -----------------------------------------------------------------------------------


def status_kib(status_text: str, field: str) -> int | None:
    """A `VmHWM:   1234 kB` style field of /proc/<pid>/status, in KiB."""
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def stat_cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from /proc/<pid>/stat; the command may hold spaces and parentheses."""
    fields = stat_text[stat_text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


_DUPLICATES = re.compile(r"batch committed: \d+ rows \((\d+) duplicate\)")


def count_duplicates(ingest_log: str) -> int:
    """Rows ingest's batches found already stored (redeliveries), from its INFO log lines."""
    return sum(int(m) for m in _DUPLICATES.findall(ingest_log))


def count_disconnects(ingest_log: str) -> int:
    """Lost MQTT connections in an ingest log (the one at a normal stop excluded)."""
    return sum("disconnected from the broker" in line and "Normal disconnection" not in line
               for line in ingest_log.splitlines())


def cpu_model(cpuinfo_text: str) -> str:
    for line in cpuinfo_text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


# --- targets and the table -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    text: str  # the target, for people
    value: float | None  # what was measured (None: not measured in this run)
    met: bool | None
    digits: int = 0  # decimals when shown

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.text, "value": self.value, "met": self.met, "digits": self.digits}


def _rate(stage: Mapping[str, Any] | None) -> float | None:
    if not stage or stage.get("error"):
        return None
    value = stage.get("msg_per_s")
    return float(value) if value else None


def evaluate_targets(stages: Mapping[str, Mapping[str, Any]]) -> list[Target]:
    """The issue's targets against the measured stages; a target whose inputs are missing is not judged."""
    ceiling = _rate(stages.get("receive_ceiling_json"))
    one = _rate(stages.get("ingest_1_replica_backlog"))
    naive = _rate(stages.get("naive_baseline"))
    out: list[Target] = []
    ratio = one / ceiling if one and ceiling else None
    out.append(Target("ingest_vs_ceiling", ">= 0.6 x receive ceiling (backlog drain, 1 replica)",
                      round(ratio, 3) if ratio is not None else None, None if ratio is None else ratio >= 0.6, 2))
    out.append(Target("ingest_msg_per_s", ">= 20,000 msg/s (backlog drain, 1 replica)",
                      round(one) if one else None, None if one is None else one >= 20_000))
    speedup = one / naive if one and naive else None
    out.append(Target("ingest_vs_naive", ">= 10 x naive baseline",
                      round(speedup, 1) if speedup is not None else None,
                      None if speedup is None else speedup >= 10, 1))
    paced = stages.get("latency_half_rate") or {}
    p99 = (paced.get("latency") or {}).get("p99_ms") if not paced.get("error") else None
    out.append(Target("p99_latency_half_rate", "p99 publish->commit < 1000 ms at half the 1-replica rate",
                      p99, None if p99 is None else p99 < 1000))
    rss_stage = stages.get("ingest_1_replica_backlog") or {}
    rss = rss_stage.get("peak_rss_mb") if rss_stage.get("messages", 0) >= 1_000_000 else None
    peak = max(rss) if rss else None
    out.append(Target("peak_rss_1m_backlog", "ingest peak RSS < 300 MB draining a 1,000,000-message backlog",
                      peak, None if peak is None else peak < 300))
    writer = stages.get("writer") or {}
    size = None if writer.get("error") else (writer.get("storage") or {}).get("series", {}).get("bytes_per_reading")
    out.append(Target("raw_bytes_per_reading", "<= 110 bytes per raw reading after VACUUM (heap + indexes)",
                      size, None if size is None else size <= 110))
    for key, where in (("writer_cpu_vs_legacy", "the bench's mix"), ("steady_writer_cpu_vs_legacy", "a steady fleet")):
        part = writer if key == "writer_cpu_vs_legacy" else writer.get("steady_fleet") or {}
        ratio = None if writer.get("error") else part.get("writer_cpu_vs_legacy")
        out.append(Target(key, f"writer backend CPU per reading <= 0.5 x the text-keyed writer's ({where})",
                          ratio, None if ratio is None else ratio <= 0.5, 2))
    return out


_ROUND_FIELDS = {"msg_per_s": 0, "readings_per_s": 0, "seconds": 2, "cpu_us_per_msg": 1}  # name: decimals kept


def combine_rounds(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several runs of one stage (rounds, interleaved with other stages') as one: the median of each rate
    and of the CPU per message, every round kept under "rounds"; verified when every round was. A run
    that failed is kept in "rounds" and makes the stage an error, as one failed run would."""
    if not results:
        return {"error": "no rounds run", "verification": {"ok": False}}
    if len(results) == 1:
        return dict(results[0])
    ok = [r for r in results if not r.get("error") and not r.get("skipped")]
    out: dict[str, Any] = dict(ok[len(ok) // 2] if ok else results[0])
    for name, digits in _ROUND_FIELDS.items():
        values = [float(r[name]) for r in ok if r.get(name) is not None]
        if values:
            median = float(np.median(values))
            out[name] = round(median, digits) if digits else round(median)
    out["rounds"] = [{k: r.get(k) for k in (*_ROUND_FIELDS, "broker_caught_up_s", "load_average_at_start", "error")
                      if k in r}
                     for r in results]
    out["stage_seconds"] = round(sum(float(r.get("stage_seconds", 0.0)) for r in results), 1)
    errors = [r["error"] for r in results if r.get("error")]
    if errors:
        out["error"] = f"{len(errors)} of {len(results)} rounds failed: {errors[0]}"
    out["verification"] = {"ok": all(bool(r.get("verification", {}).get("ok")) for r in results),
                           "rounds": [r.get("verification", {}) for r in results]}
    return out


def _fmt(x: Any, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int | float):
        return f"{x:,.{digits}f}"
    return str(x)


STAGE_TITLES = {
    "receive_ceiling_json": "receive ceiling (paho, orjson)",
    "receive_ceiling_decoders": "receive ceiling (paho, decoders)",
    "receive_ceiling_paho_buffered": "receive ceiling (paho, buffered reads, orjson)",
    "receive_ceiling_paho_batched": "receive ceiling (paho, own loop, batched acks, orjson)",
    "receive_ceiling_gmqtt": "receive ceiling (gmqtt, orjson)",
    "receive_ceiling_gmqtt_uvloop": "receive ceiling (gmqtt + uvloop, orjson)",
    "naive_baseline": "naive: INSERT per message",
    "ingest_1_replica_live": "ingest x1, live publish",
    "ingest_1_replica_backlog": "ingest x1, backlog drain",
    "ingest_replicas_live": "ingest xN, live publish",
    "ingest_replicas_backlog": "ingest xN, backlog drain",
    "latency_half_rate": "ingest x1, paced at half rate",
}


def _machine_cpu_lines(stages: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Where the machine's CPU went per message in the ingest stages: the budget, shared by all."""
    rows = [(title, s["machine_cpu"]) for key, title in STAGE_TITLES.items()
            if (s := stages.get(key)) is not None and s.get("machine_cpu")]
    if not rows:
        return []
    groups = list(rows[0][1]["us_per_msg"])
    out = ["", "machine CPU per message, µs (everything on this machine; 'other' is the bench itself):",
           "  " + "  ".join([f"{'stage':<26}", *(f"{g:>8}" for g in groups), f"{'total':>8}", "  cores busy"])]
    for title, m in rows:
        out.append("  " + "  ".join([f"{title:<26}", *(f"{m['us_per_msg'][g]:>8.0f}" for g in groups),
                                     f"{m['total_us_per_msg']:>8.0f}", f"  {m['cores_busy']} of {m['cores']}"]))
    return out


def _writer_lines(w: Mapping[str, Any] | None) -> list[str]:
    if w and w.get("error"):
        return ["", f"database write alone: error: {w['error']}"]
    if not w or not w.get("writer"):
        return []

    def one(name: str, r: Mapping[str, Any]) -> str:
        cpu = (f", backend CPU {r['backend_cpu_us_per_reading']} µs/reading = {r['backend_cpu_us_per_msg']} µs/msg"
               if r.get("backend_cpu_us_per_reading") is not None else "")
        return f"  {name:<20} p50 {r['p50_ms']} ms, p90 {r['p90_ms']} ms per batch{cpu}"

    lines = ["", f"database write alone ({w['batches']} batches of {_fmt(w['messages_per_batch'])} messages, "
                 f"{_fmt(w['readings_per_batch'])} readings):",
             *(one(name.replace("_", " "), w[name]) for name in ("writer", "legacy_writer", "insert_only",
                                                                 "legacy_insert_only") if name in w)]
    if w.get("writer_cpu_vs_legacy") is not None:
        lines.append(f"  series-keyed writer: {w['writer_cpu_vs_legacy']:.0%} of the text-keyed writer's backend CPU")
    for model, s in (w.get("storage") or {}).items():
        lines.append(f"  raw table, {model} model: {s['bytes_per_reading']} bytes per reading after VACUUM "
                     f"({_fmt(s['rows'])} rows)")
    steady = w.get("steady_fleet") or {}
    if steady.get("writer"):
        lines.append(f"  steady fleet ({steady['batches']} batches of {_fmt(steady['readings_per_batch'])} series):")
        lines.extend(one(name.replace("_", " "), steady[name]) for name in ("writer", "legacy_writer"))
        if steady.get("writer_cpu_vs_legacy") is not None:
            lines.append(f"  series-keyed writer: {steady['writer_cpu_vs_legacy']:.0%} of the text-keyed one")
    return lines


def table(report: Mapping[str, Any]) -> str:
    """The report as text for people (stderr)."""
    stages: Mapping[str, Mapping[str, Any]] = report.get("stages", {})
    head = ("stage", "messages", "msg/s", "readings/s", "p50 ms", "p99 ms", "peak RSS MB", "check")
    rows: list[Sequence[str]] = [head]
    notes: list[str] = []
    for key, title in STAGE_TITLES.items():
        s = stages.get(key)
        if s is None:
            continue
        if "replicas" in s and key.startswith("ingest_replicas"):
            title = title.replace("xN", f"x{s['replicas']}")
        if s.get("error"):
            rows.append((title, _fmt(s.get("messages")), "-", "-", "-", "-", "-", "ERROR"))
            continue
        if s.get("skipped"):
            rows.append((title, _fmt(s.get("messages")), "-", "-", "-", "-", "-", "skipped"))
            notes.append(f"  {title}: skipped, {s['skipped']}")
            continue
        if s.get("rounds"):
            each = ", ".join(f"{_fmt(r.get('msg_per_s'))} ({_fmt(r.get('cpu_us_per_msg'), 1)})" for r in s["rounds"])
            notes.append(f"  {title}: median {_fmt(s.get('msg_per_s'))} msg/s, {_fmt(s.get('cpu_us_per_msg'), 1)} "
                         f"µs CPU/msg; rounds: {each}")
        lat = s.get("latency") or {}
        rss = s.get("peak_rss_mb")
        check = s.get("verification", {}).get("ok")
        rows.append((
            title, _fmt(s.get("messages")), _fmt(s.get("msg_per_s")), _fmt(s.get("readings_per_s")),
            _fmt(lat.get("p50_ms")), _fmt(lat.get("p99_ms")),
            "/".join(_fmt(r) for r in rss) if rss else "-",
            "ok" if check else ("FAILED" if check is False else "-"),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if notes:
        lines.append("")
        lines.append("rounds, msg/s (µs CPU per message), and skipped stages:")
        lines.extend(notes)
    lines.extend(_machine_cpu_lines(stages))
    lines.extend(_writer_lines(stages.get("writer")))
    quick = bool(report.get("quick"))
    lines.append("")
    lines.append("targets" + (" (quick run: too small to judge, shown for information)" if quick else "") + ":")
    for t in report.get("targets", []):
        mark = "n/a" if t["met"] is None else ("PASS" if t["met"] else "MISS")
        if quick and t["met"] is not None:
            mark = f"({mark})"
        lines.append(f"  {mark:6}  {t['target']}: {_fmt(t['value'], int(t.get('digits', 0)))}")
    m = report.get("machine", {})
    if m:
        lines.append("")
        lines.append(f"machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM, "
                     f"Linux {m.get('kernel')}, Python {m.get('python')}, paho-mqtt {m.get('paho_mqtt')}, "
                     + (f"gmqtt {m['gmqtt']}, " if m.get("gmqtt") not in (None, "?") else "")
                     + f"Mosquitto {m.get('mosquitto')}, TimescaleDB {m.get('timescaledb')} "
                     f"(PostgreSQL {m.get('postgresql')})")
    return "\n".join(lines)
