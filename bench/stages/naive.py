"""The naive baseline: one INSERT per message, straight from the MQTT callback."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bench.consumers import ConsumerJob
from bench.fleet import bench_fleet
from bench.harness import SESSION_EXPIRY_S, STALL_S, Bench, published, rates, run_consumer


def stage_naive(b: Bench, n: int) -> dict[str, Any]:
    url = b.create_db("naive")
    client_id = f"bench-naive-{b.run_id}"
    subs = b.subscriptions()
    b.register(client_id, subs)
    depths = tuple((s.id, float(s.metadata["depth_mm"])) for s in bench_fleet(int(b.set.meta["sensors"])).sensors
                   if "depth_mm" in s.metadata)
    try:
        pub = b.publish(n, "naive")
        b.say(f"  {n:,} messages queued; draining with one INSERT per message")
        ep = b.ep
        result = run_consumer(ConsumerJob(
            "naive", ep.host, ep.port, ep.tls, ep.username, ep.password, client_id, tuple(subs),
            b.settings.ingest_receive_maximum, SESSION_EXPIRY_S, n, STALL_S, b.settings.timezone, url, depths))
    finally:
        b.forget(client_id)
    out: dict[str, Any] = {
        "method": "backlog drain: paho (auto ack) + per message one INSERT … VALUES (its rows) ON CONFLICT DO "
                  "NOTHING, autocommit, from on_message; no rollups, no sensor registry",
        "publish": published(pub),
    }
    if result.error or not result.done_at:
        out.update({"messages": n, "error": result.error or "did not finish"})
    else:
        out.update(rates(n, result.rows, result.done_at - result.connected_at))
        out["cpu_us_per_msg"] = round(result.cpu_s / n * 1e6, 1)
    out["verification"] = b.verify(url, n)
    out["database"] = urlsplit(url).path.lstrip("/")
    b.drop_db(url)
    return out
