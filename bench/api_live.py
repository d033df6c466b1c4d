"""Live-feed load benchmark, part of `citysense bench --api`: the API beside many live clients.

On the bench database (`<name>_bench`), with 10,000 series that reported in the last hour, a real
`citysense ingest` and `citysense api` (subprocesses, so the API's memory is its own), and a
publisher feeding ingest at a fixed rate of readings over MQTT:

* silent: 500 SSE clients that never read (a 4 KiB receive buffer each) while live traffic flows;
  the API's peak RSS (target ≤ 500 MB) and the p95 of a keyed request with the traffic alone, 5 s
  after the clients connected (their snapshots being written) and 15 s after (all stalled);
* readers: 200 SSE clients that read, filtered by district (40 per district), at 5,000 readings/s;
  per client, every matching reading arrives or a `lagged` notice counts it (received + missed =
  published for its district), and the p99 from publish to the client (target < 500 ms);
* flood: 2,000 connection attempts from one address with the default limits: how fast the
  refusals come (p95) and the keyed p95 beside them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.api_latency import _bench_database, _free_port
from bench.harness import mqtt_url, rss_mb
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings
from ingest.prepare import PreparedBatch, SensorSeen
from ingest.writer import Writer
from models.districts import DISTRICTS

KEY = "bench-live-admin-key-0123456789"
METRICS = ("pm25", "pm10", "no2", "temperature")
TARGETS = {"silent_peak_rss_mb": 500.0, "readers_p99_ms": 500.0}


async def _series(url: str, sensors: int) -> list[str]:
    """`sensors` air sensors x 4 metrics with one reading ten minutes ago, spread over the districts."""
    ids = [f"citysense:bench-live-{i:05d}" for i in range(sensors)]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, command_timeout=600)
    try:
        async with pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO sensors (id, source, kind, district, private, metadata) "
                "VALUES ($1, 'citysense', 'air', $2, false, '{\"bench_live\": true}') "
                "ON CONFLICT (id) DO UPDATE SET district = excluded.district",
                [(sid, DISTRICTS[i % len(DISTRICTS)]) for i, sid in enumerate(ids)])
        t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        batch = PreparedBatch()
        for i, sid in enumerate(ids):
            for m in METRICS:
                batch.sensor_ids.append(sid)
                batch.metrics.append(m)
                batch.times.append(t)
                batch.values.append(float(i % 100))
            batch.sensors[sid] = SensorSeen("air", t, t)
        await Writer(pool).write(batch)
    finally:
        await pool.close()
    return ids


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "citysense.cli", *args], env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], live: bool) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the API exited during the live bench")
            try:
                health = (await http.get("/health")).json()
                if not live or health.get("live_bus") == "subscribed":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API did not come up for the live bench")


class Publisher:
    """Publishes `rate` readings/s (messages of 5 readings, QoS 1) for the bench's sensors in a thread;
    each message carries its publish time as the reading time, so a client can tell the delay."""

    def __init__(self, ep: MqttEndpoint, ids: list[str], rate: int) -> None:
        self.ids, self.rate = ids, rate
        self.sent: list[tuple[str, int]] = []  # (sensor id, readings)
        self._stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-live-{os.getpid()}")
        if ep.username:
            self.client.username_pw_set(ep.username, ep.password)
        self.client.max_inflight_messages_set(200)
        self.client.connect(ep.host, ep.port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        per_msg = 5
        period = per_msg / self.rate
        i = 0
        nxt = time.perf_counter()
        while not self._stop.is_set():
            sid = self.ids[i % len(self.ids)]
            now = datetime.now(UTC)
            body = {"time": now.isoformat(), "readings": {"pm25": float(i % 90), "pm10": 1.0, "no2": 2.0,
                                                          "temperature": 3.0, "humidity": 4.0}}
            self.client.publish(f"citysense/json/{sid.split(':', 1)[1]}", orjson.dumps(body), qos=1)
            self.sent.append((sid, per_msg))
            i += 1
            nxt += period
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    async def __aenter__(self) -> Publisher:
        self.thread.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        # In a thread: blocking the event loop here would delay the readers, and their delays with it.
        await asyncio.to_thread(self._finish)

    def _finish(self) -> None:
        self._stop.set()
        self.thread.join()
        time.sleep(1)  # the last PUBACKs
        self.client.loop_stop()
        self.client.disconnect()


def _silent(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /api/v1/live/sse HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
    return s


async def _keyed_p95(base: str, n: int) -> float:
    samples = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": KEY}, timeout=30) as http:
        for _ in range(n):
            t = time.perf_counter()
            (await http.get("/api/v1/sensors", params={"kind": "bin"})).raise_for_status()
            samples.append(time.perf_counter() - t)
    return round(float(np.percentile(np.array(samples) * 1000, 95)), 1)


async def _sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid, "VmRSS") or 0.0)
        await asyncio.sleep(0.1)


class Reader:
    """One SSE client that reads, filtered by district. It counts readings and missed ones without
    decoding every event (the bench shares the machine with what it measures: decoding 200 clients'
    events in Python would measure the bench), and decodes the last reading of each read for the
    delay from publish to arrival and the order per series."""

    def __init__(self, district: str) -> None:
        self.district: str = district
        self.readings = 0
        self.missed = 0
        self.delays_ms: list[float] = []
        self.out_of_order = 0
        self._last: dict[tuple[str, str], str] = {}

    def _frames(self, complete: bytes, now: float) -> None:
        self.readings += complete.count(b"event: reading\n")
        if b"event: lagged\n" in complete:
            for f in complete.split(b"\n\n"):
                if f.startswith(b"event: lagged\n"):
                    self.missed += orjson.loads(f.split(b"data: ", 1)[1])["missed"]
        last = complete.rfind(b"event: reading\n")
        if last >= 0:
            ev = orjson.loads(complete[last:].split(b"data: ", 1)[1].split(b"\n", 1)[0])
            t = datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()
            self.delays_ms.append((now - t) * 1000)
            key = (ev["sensor_id"], ev["metric"])
            if self._last.get(key, "") > ev["time"]:
                self.out_of_order += 1
            self._last[key] = ev["time"]

    async def run(self, port: int, ready: asyncio.Event, counter: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/v1/live/sse?district={self.district} HTTP/1.1\r\nHost: bench\r\n"
                     f"X-API-Key: {KEY}\r\n\r\n".encode())
        buf = b""
        live = False
        try:
            while True:
                chunk = await reader.read(1 << 18)
                if not chunk:
                    return
                buf += chunk
                complete, sep, buf = buf.rpartition(b"\n\n")
                if not sep:
                    buf = complete
                    continue
                if not live:
                    # the snapshot (latest events) is not counted; what follows snapshot_end is
                    i = complete.find(b"event: snapshot_end\n")
                    if i < 0:
                        continue
                    live = True
                    counter[0] += 1
                    if counter[0] == counter[1]:
                        ready.set()
                    complete = complete[i:]
                self._frames(complete, time.time())
        finally:
            writer.close()


async def _drained(url: str, since: datetime, want: int, within: float = 180) -> tuple[int, float]:
    """Wait until the database holds `want` readings of the bench's sensors from `since` on (every
    published reading exactly once); returns what it holds and how long that took."""
    conn = await asyncpg.connect(url)
    t0 = time.monotonic()
    try:
        while True:
            have = int(await conn.fetchval(
                "SELECT count(*) FROM readings WHERE sensor_id LIKE 'citysense:bench-live-%' AND time >= $1",
                since))
            if have >= want or time.monotonic() - t0 > within:
                return have, time.monotonic() - t0
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def run(settings: Settings, ep: MqttEndpoint, quick: bool, log_dir: Path) -> dict[str, Any]:
    # A database of its own: its 10,000 series written today would otherwise join the latency
    # bench's 500-sensor fleet in `<name>_bench` and change what that bench measures.
    url = await _bench_database(settings, "bench_live")
    series_target = 1_000 if quick else 10_000
    n_silent, n_readers, n_attempts = (50, 20, 200) if quick else (500, 200, 2_000)
    rate = 1_000 if quick else 5_000
    ids = await _series(url, series_target // len(METRICS))
    topic = f"citysense/bench-live-{os.getpid()}"
    common = {"CITYSENSE_DATABASE_URL": url, "CITYSENSE_MQTT_URL": mqtt_url(ep),
              "CITYSENSE_API_KEYS": f"{KEY}:admin", "CITYSENSE_PUBLIC_READ": "true",
              "CITYSENSE_INGEST_LIVE_TOPIC": topic, "CITYSENSE_INGEST_TOPICS": "citysense/json/+",
              "CITYSENSE_INGEST_CLIENT_ID": f"bench-live-ingest-{os.getpid()}", "CITYSENSE_INGEST_METRICS_PORT": "0",
              # a session that ends with the run: none is left queueing on a shared broker afterwards
              "CITYSENSE_INGEST_SESSION_EXPIRY_S": "0"}
    out: dict[str, Any] = {"series": series_target, "rate_readings_per_s": rate}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # Phase 1 and 2: silent clients, then readers, on an API whose per-address limit lets the bench's
    # single address open them all.
    with _process(["ingest"], common, log_dir / "bench-live-ingest.log"), \
            _process(["api", "--port", str(port)], {**common, "CITYSENSE_API_LIVE_MAX_PER_ADDRESS": "1000",
                                                    "CITYSENSE_API_PUBLIC_RATE": ""},
                     log_dir / "bench-live-api.log") as api:
        await _wait_ready(base, api, live=True)
        rss_idle = rss_mb(api.pid, "VmRSS") or 0.0
        peak = [rss_idle]
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(api.pid, peak, stop))
        socks = []
        since = datetime.now(UTC)
        try:
            async with Publisher(ep, ids, rate) as pub:
                await asyncio.sleep(5)
                normal = await _keyed_p95(base, 100)  # beside ingest at the rate, no live client
                t0 = time.monotonic()
                for _ in range(n_silent):
                    socks.append(await asyncio.to_thread(_silent, port))
                connect_s = time.monotonic() - t0
                await asyncio.sleep(5)
                beside = await _keyed_p95(base, 100)  # while their snapshots are written
                await asyncio.sleep(10)
                settled = await _keyed_p95(base, 100)  # once every silent client is stalled
        finally:
            for s in socks:
                s.close()
            stop.set()
            await sampler
        stored, drain_s = await _drained(url, since, sum(n for _, n in pub.sent))
        out["silent"] = {"clients": n_silent, "rss_idle_mb": round(rss_idle, 1), "peak_rss_mb": round(peak[0], 1),
                         "target_peak_rss_mb": TARGETS["silent_peak_rss_mb"],
                         "ok": peak[0] <= TARGETS["silent_peak_rss_mb"], "connect_s": round(connect_s, 1),
                         "keyed_p95_ms_normal": normal, "keyed_p95_ms_beside": beside,
                         "keyed_p95_ms_settled": settled,
                         "published_readings": sum(n for _, n in pub.sent), "stored_readings": stored,
                         "ingest_caught_up_s": round(drain_s, 1)}

        readers = [Reader(DISTRICTS[i % len(DISTRICTS)]) for i in range(n_readers)]
        ready = asyncio.Event()
        counter = [0, n_readers]
        tasks = [asyncio.create_task(r.run(port, ready, counter)) for r in readers]
        await asyncio.wait_for(ready.wait(), 120)
        district_of: dict[str, str] = {sid: DISTRICTS[i % len(DISTRICTS)] for i, sid in enumerate(ids)}
        since = datetime.now(UTC)
        async with Publisher(ep, ids, rate) as pub:
            await asyncio.sleep(10 if not quick else 4)
        total = sum(n for _, n in pub.sent)
        stored, drain_s = await _drained(url, since, total)
        await asyncio.sleep(3)  # the live bus follows the last commit
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        published: dict[str, int] = {d: 0 for d in DISTRICTS}
        for sid, n in pub.sent:
            published[district_of[sid]] += n
        delays = np.concatenate([np.array(r.delays_ms) for r in readers if r.delays_ms] or [np.zeros(1)])
        complete = sum(1 for r in readers if r.readings + r.missed == published[r.district])
        p99 = float(np.percentile(delays, 99))
        out["readers"] = {
            "clients": n_readers, "published_readings": total, "stored_readings": stored,
            "ingest_caught_up_s": round(drain_s, 1),
            "readings_received": sum(r.readings for r in readers), "readings_missed": sum(r.missed for r in readers),
            "readings_expected": sum(published[r.district] for r in readers),
            "clients_complete": complete, "clients_lagged": sum(1 for r in readers if r.missed),
            "out_of_order": sum(r.out_of_order for r in readers),
            "p50_ms": round(float(np.percentile(delays, 50)), 1), "p99_ms": round(p99, 1),
            "target_p99_ms": TARGETS["readers_p99_ms"],
            "ok": complete == n_readers and stored == total and p99 < TARGETS["readers_p99_ms"]}

    # Phase 3: the default limits against a flood of connection attempts from one address.
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with _process(["api", "--port", str(port)], common, log_dir / "bench-live-api-limits.log") as api:
        await _wait_ready(base, api, live=True)
        alone = await _keyed_p95(base, 100)
        samples: list[float] = []
        codes: dict[int, int] = {}

        gate = asyncio.Semaphore(100)  # connection attempts in flight at once

        async def attempt() -> None:
            # A raw connection, so the figure is the server's answer and not a client pool's queueing.
            async with gate:
                t = time.perf_counter()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(b"GET /api/v1/live/sse HTTP/1.1\r\nHost: bench\r\n\r\n")
                    status = int((await asyncio.wait_for(reader.readline(), 30)).split()[1])
                    samples.append(time.perf_counter() - t)
                    codes[status] = codes.get(status, 0) + 1
                finally:
                    writer.close()

        flood = asyncio.gather(*(attempt() for _ in range(n_attempts)), return_exceptions=True)
        beside_task = asyncio.create_task(_keyed_p95(base, 100))
        failures = [r for r in await flood if isinstance(r, BaseException)]
        beside = await beside_task
        a = np.array(samples) * 1000
        out["flood"] = {"attempts": n_attempts, "answers": codes, "failed": len(failures),
                        "answer_p95_ms": round(float(np.percentile(a, 95)), 1) if len(a) else None,
                        "keyed_p95_ms_alone": alone, "keyed_p95_ms_beside": beside}
    return out
