"""`citysense bench`: run the stages asked for on one machine and print the JSON report (and the
table); the work dir is kept when a stage failed or did not verify."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from bench import api_latency as api_bench
from bench import api_live, api_push, api_sensorthings, report
from bench.broker import BusListener
from bench.harness import Bench, bench_log, read_text, rss_mb
from bench.messages import load_or_generate
from bench.options import FULL
from bench.stages.ceiling import CEILINGS, stage_ceiling
from bench.stages.ingestion import stage_ingest_backlog, stage_ingest_live
from bench.stages.latency import stage_latency
from bench.stages.naive import stage_naive
from bench.stages.writer import stage_writer
from citysense.settings import Settings
from devenv.mosquitto import PrivateBroker
from devenv.mosquitto import version as mosquitto_version


async def _server_versions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        pg = await conn.fetchval("SHOW server_version")
        ts = await conn.fetchval("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
    finally:
        await conn.close()
    return {"postgresql": str(pg), "timescaledb": str(ts)}


def machine(settings: Settings) -> dict[str, Any]:
    mem = report.status_kib(read_text("/proc/meminfo"), "MemTotal")

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    out: dict[str, Any] = {
        "cpu_model": report.cpu_model(read_text("/proc/cpuinfo")), "cores": os.cpu_count(),
        "ram_gb": round(mem / 1024 / 1024, 1) if mem else None, "kernel": platform.release(),
        "os": platform.platform(), "python": platform.python_version(), "paho_mqtt": version("paho-mqtt"),
        "gmqtt": version("gmqtt"), "uvloop": version("uvloop"),
        "asyncpg": version("asyncpg"), "orjson": version("orjson"), "mosquitto": mosquitto_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        out.update(asyncio.run(_server_versions(settings.database_url)))
    except (OSError, asyncpg.PostgresError) as exc:
        out["database_error"] = str(exc)
    return out


def _database_reachable(url: str) -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except (OSError, asyncpg.PostgresError):
        return False


def _ensure_database(settings: Settings, say: Callable[[str], None]) -> None:
    """Use the configured server; start the local one (`citysense services up`) when it is ours and down."""
    if _database_reachable(settings.database_url):
        return
    if os.environ.get("CITYSENSE_DATABASE_URL"):
        raise RuntimeError("the database of CITYSENSE_DATABASE_URL is not reachable")
    say("local TimescaleDB not reachable: running `citysense services up --only postgres`")
    from devenv import local_services as services

    with contextlib.redirect_stdout(sys.stderr):
        if services.run("up", "postgres") != 0:
            raise RuntimeError("could not start the local TimescaleDB")


def _stage(b: Bench, key: str, title: str, run: Callable[[], dict[str, Any]]) -> None:
    b.say(f"{title} …")
    t0 = time.monotonic()
    try:
        result = run()
    except Exception as exc:  # one failed stage must not lose the others' figures
        result = {"error": f"{type(exc).__name__}: {exc}", "verification": {"ok": False}}
    result["stage_seconds"] = round(time.monotonic() - t0, 1)
    b.stages[key] = result
    summary = (f"error: {result['error']}" if result.get("error") else
               f"skipped: {result['skipped']}" if result.get("skipped") else
               f"{result.get('msg_per_s', 0):,} msg/s, {result.get('readings_per_s', 0):,} readings/s")
    if result.get("writer"):
        w, old = result["writer"], result["legacy_writer"]
        summary = (f"writer p50 {w['p50_ms']} ms per batch ({w['backend_cpu_us_per_reading']} µs backend CPU per "
                   f"reading), text-keyed baseline p50 {old['p50_ms']} ms ({old['backend_cpu_us_per_reading']} µs)")
    if result.get("cpu_us_per_msg") is not None:
        summary += f", {result['cpu_us_per_msg']} µs CPU/msg"
    if result.get("machine_cpu"):
        m = result["machine_cpu"]
        parts = ", ".join(f"{g} {v:.0f}" for g, v in m["us_per_msg"].items())
        summary += (f"; machine CPU µs/msg: {parts} = {m['total_us_per_msg']:.0f}"
                    f" ({m['cores_busy']} of {m['cores']} cores busy)")
    lat = result.get("latency") or {}
    if lat.get("p99_ms") is not None:
        summary += f", p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms"
    b.say(f"  {summary}; verified: {result.get('verification', {}).get('ok')} ({result['stage_seconds']} s)")


def run_stages(b: Bench) -> None:
    chosen = set(b.args.stages)
    n, backlog, replicas = b.size("messages"), b.size("backlog"), b.args.replicas
    live = min(n, b.size("live_messages"))
    # The orjson receive ceilings, paho's and the other clients', interleaved round by round: the
    # machine may be shared, and the spread between rounds of one client shows how much that matters.
    clients = list(getattr(b.args, "clients", ())) if "clients" in chosen else []
    kinds = (["json"] if "ceiling" in chosen else []) + clients
    rounds = int(getattr(b.args, "rounds", 1))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds:
            key = CEILINGS[kind][0]
            if runs[kind] and runs[kind][0].get("skipped"):
                continue
            tag = f", round {r + 1} of {rounds}" if rounds > 1 else ""
            _stage(b, key, f"receive ceiling, {kind} ({n:,} messages{tag})",
                   functools.partial(stage_ceiling, b, kind, n))
            runs[kind].append(b.stages[key])
    for kind, results in runs.items():
        b.stages[CEILINGS[kind][0]] = report.combine_rounds(results)
    if "ceiling" in chosen:
        # A rate, reached within seconds: a fifth of the set (at most 100,000) keeps the full run short.
        d = n if b.args.quick else min(n, max(20_000, min(100_000, n // 5)))
        _stage(b, "receive_ceiling_decoders", f"receive ceiling, decoders ({d:,} messages)",
               lambda: stage_ceiling(b, "decoders", d))
    if "naive" in chosen:
        k = min(n, b.size("naive_messages"))
        _stage(b, "naive_baseline", f"naive baseline ({k:,} messages)", lambda: stage_naive(b, k))
    if "ingest1" in chosen:
        _stage(b, "ingest_1_replica_live", f"ingest x1, live ({live:,} messages)",
               lambda: stage_ingest_live(b, live, 1, "live1"))
        _stage(b, "ingest_1_replica_backlog", f"ingest x1, backlog drain ({backlog:,} messages)",
               lambda: stage_ingest_backlog(b, backlog, 1, "backlog1"))
    if "replicas" in chosen:
        _stage(b, "ingest_replicas_live", f"ingest x{replicas}, live ({live:,} messages)",
               lambda: stage_ingest_live(b, live, replicas, "liveN"))
        _stage(b, "ingest_replicas_backlog", f"ingest x{replicas}, backlog drain ({n:,} messages)",
               lambda: stage_ingest_backlog(b, n, replicas, "backlogN"))
    if "writer" in chosen:
        k = b.size("writer_batches")
        _stage(b, "writer", f"database write alone ({k} batches of {b.settings.ingest_batch_max_messages:,} "
               "messages)", lambda: stage_writer(b, k))
    if "latency" in chosen:
        one = b.stages.get("ingest_1_replica_backlog") or b.stages.get("ingest_1_replica_live") or {}
        measured = one.get("msg_per_s") if not one.get("error") else None
        rate = 0.5 * float(measured) if measured else 2000.0
        seconds = float(b.size("paced_seconds"))
        _stage(b, "latency_half_rate", f"latency at {rate:,.0f} msg/s for {seconds:.0f} s",
               lambda: stage_latency(b, rate, seconds))
        if not measured:
            b.stages["latency_half_rate"]["note"] = "no 1-replica rate measured in this run: paced at 2,000 msg/s"


def main(args: Any) -> int:
    from citysense.settings import load_settings

    started = time.monotonic()
    say = bench_log(started)
    settings = load_settings()
    _ensure_database(settings, say)
    quick = bool(args.quick)
    sta: dict[str, Any] | None = None
    if "sta" in args.stages:
        say("SensorThings paging benchmark (bench/api_sensorthings.py) …")
        try:
            sta = asyncio.run(api_sensorthings.run(settings, quick))
        except Exception as exc:  # reported, like a failed stage
            sta = {"error": f"{type(exc).__name__}: {exc}"}
        if set(args.stages) == {"sta"}:  # nothing of the ingest bench asked for
            print(json.dumps({"sensorthings": sta}, indent=2, default=str))
            return 1 if "error" in sta else 0
    tmp = tempfile.mkdtemp(prefix="citysense-bench-")
    if True:  # the work dir (logs, broker state) is removed after a run that verified, kept otherwise
        b = Bench(settings, args, say, Path(tmp))
        sizes = {k: b.size(k) for k in FULL}
        need = max(sizes["messages"], sizes["backlog"] if "ingest1" in args.stages else 0)
        m, how = load_or_generate(need, args.sensors, args.seed, os.cpu_count() or 1, say)
        b.messages = m
        say(f"message set: {need:,} messages ({'cached' if how['cached'] else 'generated'}, {how['path']})")
        machine_info = machine(settings)
        if Path("/usr/sbin/mosquitto").exists():
            b.broker = PrivateBroker(Path(tmp) / "mosquitto", args.broker_max_packet_size)
            b.broker.start()
            b.endpoint = b.broker.endpoint
            broker_info = {"kind": "private", "config": "deploy/mosquitto/citysense.conf", "port": b.broker.port,
                           "overrides": ({"max_packet_size": args.broker_max_packet_size}
                                         if args.broker_max_packet_size else {})}
        else:
            b.endpoint = settings.mqtt
            broker_info = {"kind": "configured", "url": repr(settings.mqtt)}
            say("no /usr/sbin/mosquitto: using the configured broker (sessions are cleared after each stage)")
        b.bus = BusListener(b.ep, f"{b.live_base.rstrip('/')}/readings")
        b.bus.start()
        api: dict[str, Any] | None = None
        try:
            run_stages(b)
            if args.api:
                b.say("API latency benchmark (bench/api_latency.py) …")
                try:
                    api = asyncio.run(api_bench.run(settings, quick=quick))
                except Exception as exc:  # reported, like a failed stage
                    api = {"error": f"{type(exc).__name__}: {exc}"}
                b.say("API live-feed load benchmark (bench/api_live.py) …")
                try:
                    api["live"] = asyncio.run(api_live.run(settings, b.ep, quick, Path(tmp)))
                except Exception as exc:  # reported, like a failed stage
                    api["live"] = {"error": f"{type(exc).__name__}: {exc}"}
                b.say("API push benchmark (bench/api_push.py) …")
                try:
                    api["push"] = asyncio.run(api_push.run(settings, b.ep, quick, Path(tmp)))
                except Exception as exc:  # reported, like a failed stage
                    api["push"] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            b.bus.stop()
            for c in list(b.sessions):
                with contextlib.suppress(Exception):
                    b.forget(c)
            broker_peak = rss_mb(b.broker.pid) if b.broker and b.broker.pid else None
            if b.broker is not None:
                b.broker.stop()
            if not args.keep:
                for name in list(b.databases):
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        asyncio.run(b._drop_db(name))
        targets = report.evaluate_targets(b.stages)
        verified = {k: bool(v.get("verification", {}).get("ok")) for k, v in b.stages.items()}
        out: dict[str, Any] = {
            "benchmark": "citysense ingest throughput and latency",
            "quick": quick,
            "duration_s": round(time.monotonic() - started, 1),
            "machine": machine_info,
            "config": {
                **sizes, "replicas": args.replicas, "publishers": args.publishers, "stages": list(args.stages),
                **({"clients": list(args.clients)} if "clients" in args.stages else {}),
                **({"rounds": args.rounds} if getattr(args, "rounds", 1) > 1 else {}),
                "ingest": {"receive_maximum": settings.ingest_receive_maximum,
                           "batch_max_messages": settings.ingest_batch_max_messages,
                           "batch_max_age_ms": settings.ingest_batch_max_age_ms},
                "broker": {**broker_info, "peak_rss_mb": broker_peak},
                "databases_kept": b.databases if args.keep else [],
            },
            "message_set": {**m.mix(need), **how},
            "stages": b.stages,
            "targets": [t.as_json() for t in targets],
            "verification": {"ok": all(verified.values()) and bool(verified), "stages": verified},
        }
        if api is not None:
            out["api"] = api
        if sta is not None:
            out["sensorthings"] = sta
    ok = bool(out["verification"]["ok"]) and not (api or {}).get("error")
    if ok and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        out["logs"] = tmp
    print(json.dumps(out, indent=2, default=str))
    print(report.table(out), file=sys.stderr)
    if not ok:
        say(f"verification failed or a stage errored; logs kept in {tmp}")
    return 0 if ok else 1
