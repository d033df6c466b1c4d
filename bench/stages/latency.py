"""Publish-to-commit latency of one ingest replica at a paced rate."""

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
    wait_committed,
)


def stage_latency(b: Bench, rate: float, seconds: float) -> dict[str, Any]:
    assert b.bus is not None
    bus = b.bus
    n = max(1, min(len(b.set), int(rate * seconds)))
    out: dict[str, Any] = {"replicas": 1, "rate_msg_per_s": round(rate),
                           "method": "ingest running, publish paced at the given rate; per message: publish time "
                                     "(sender's wall clock) to the first of its readings on the live bus "
                                     "(matched by sensor, metric and time; readings without a time in the payload "
                                     "are not matched)"}

    def body(procs: list[IngestProc], url: str) -> None:
        procs[0].start()
        procs[0].wait_for("subscribed to")
        cpu0 = {procs[0].pid: cpu_s(procs[0].pid)}
        bus.reset()
        bus.mark()
        machine = cpu.Sampler()
        machine.start()
        pub = b.publish(n, "paced", rate=rate, record_times=True)
        out["publish"] = published(pub)
        done = wait_committed(b, procs, n, url)
        machine.stop()
        out["machine_cpu"] = machine.result(n, [procs[0].pid], b.broker_pids())
        out.update(rates(n, int(b.set.reading_off[n]), done - pub.first))
        out.update(ingest_stats(procs, n, cpu0))
        assert pub.times is not None
        out["latency"] = latency_of(b, n, pub.times)

    return ingest_stage(b, "paced", 1, n, out, body)
