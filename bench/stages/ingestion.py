"""Ingest itself, one or more replicas: live (publishing while it runs) and draining a backlog."""

from __future__ import annotations

from typing import Any

from bench import cpu
from bench.harness import (
    Bench,
    IngestProc,
    cpu_s,
    ingest_stage,
    ingest_stats,
    latency_of,
    published,
    rates,
    rss_mb,
    wait_committed,
)


def stage_ingest_live(b: Bench, n: int, replicas: int, tag: str) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    out: dict[str, Any] = {"replicas": replicas,
                           "method": "live: ingest running, every message published as fast as the broker takes "
                                     "it; first publish to the last commit seen on the live bus"}

    def body(procs: list[IngestProc], url: str) -> None:
        for p in procs:
            p.start()
        for p in procs:
            p.wait_for("subscribed to")
        cpu0 = {p.pid: cpu_s(p.pid) for p in procs}
        bus.reset()
        bus.mark()
        machine = cpu.Sampler()
        machine.start()
        pub = b.publish(n, tag, record_times=True)
        out["publish"] = published(pub)
        b.say(f"  published {n:,} in {pub.acked - pub.first:.1f} s ({pub.rate:,.0f} msg/s); waiting for commits")
        done = wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [p.pid for p in procs], b.broker_pids())
        out.update(rates(n, int(b.set.reading_off[n]), done - pub.first))
        out.update(ingest_stats(procs, n, cpu0))
        assert pub.times is not None
        out["latency"] = latency_of(b, n, pub.times)

    return ingest_stage(b, tag, replicas, n, out, body)


def stage_ingest_backlog(b: Bench, n: int, replicas: int, tag: str) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    out: dict[str, Any] = {"replicas": replicas,
                           "method": "backlog drain: all messages queued for ingest's persistent session(s) while "
                                     "offline; first replica's CONNACK (its log) to the last commit on the live bus"}

    def body(procs: list[IngestProc], url: str) -> None:
        for p in procs:
            p.register()
        pub = b.publish(n, tag)
        out["publish"] = published(pub)
        if b.broker is not None and b.broker.pid:
            out["broker_rss_mb_with_backlog"] = rss_mb(b.broker.pid, "VmRSS")
        b.say(f"  {n:,} messages queued ({pub.rate:,.0f} msg/s published); starting {replicas} ingest replica(s)")
        bus.reset()
        machine = cpu.Sampler()
        machine.start()
        for p in procs:
            p.start()
        bus.mark()
        connected = [p.wait_for("connected to") for p in procs]
        done = wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [p.pid for p in procs], b.broker_pids())
        out.update(rates(n, int(b.set.reading_off[n]), done - min(connected)))
        out.update(ingest_stats(procs, n, {}))  # CPU includes start-up (imports, connecting)

    return ingest_stage(b, tag, replicas, n, out, body)
