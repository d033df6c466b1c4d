"""HTTP push benchmark, part of `citysense bench --api`: sustained accepted payloads/s over HTTP and their
latency, with the broker, the database and ingest running beside the API on the same machine.

A fresh database, a real `citysense ingest` and `citysense api` (subprocesses) on the bench's broker, and
`connections` keep-alive HTTP/1.1 connections, each posting one payload after the other (the way a webhook
sender or a proxy in front of many stations does), round-robin over the five sources with bodies shaped like
the real senders' (The Things Stack uplink, ChirpStack `up` event, airrohr push, SenML pack, citysense JSON),
every payload naming a distinct reading. Timed: `seconds` after a warm-up; reported: accepted (202) per
second, latency percentiles, other answers. Then the database is checked: every reading the 202 answers
announced is stored, once (target ≥ 2,000 payloads/s).

The client is a few lines of raw HTTP/1.1 on asyncio streams: a general-purpose client (httpx) costs more CPU
per request than the API it measures, on a machine where every core is shared with the system under test.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import numpy as np
import orjson

from bench.api_latency import _free_port
from bench.api_live import _process
from bench.harness import mqtt_url
from bench.report import stat_cpu_ticks
from citysense.endpoints import MqttEndpoint
from citysense.settings import Settings

KEY = "bench-push-ingest-key-0123456789"
TARGET_PER_S = 2000.0
DEVICES = 500  # distinct devices per source; a device's next payload is one second later
Payload = tuple[bytes, bytes]  # (request line + headers, body)


def _ttn(run: str, device: int, t: datetime, i: int) -> tuple[str, dict[str, str], dict[str, Any]]:
    return "/api/v1/ingest/ttn", {}, {
        "end_device_ids": {"device_id": f"eui-{run}-{device}", "application_ids": {"application_id": "bench-air"},
                           "dev_eui": "24E124000000A001", "join_eui": "24E124C0002A0001", "dev_addr": "260B0001"},
        "correlation_ids": [f"as:up:{run}{i}"], "received_at": t.isoformat().replace("+00:00", "Z"),
        "uplink_message": {
            "session_key_id": "AY4AAAAAAAAAAAAAAAAAAA==", "f_port": 85, "f_cnt": i, "frm_payload": "AXVhA2fo/wRobw==",
            "decoded_payload": {"battery": 97, "humidity": 40 + i % 50, "temperature": (i % 300) / 10},
            "rx_metadata": [{"gateway_ids": {"gateway_id": "eui-0000000000000001", "eui": "0000000000000001"},
                             "time": t.isoformat(), "rssi": -101, "snr": 7.5}],
            "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}},
                         "frequency": "867500000"},
            "received_at": t.isoformat(), "consumed_airtime": "0.205824s",
            "network_ids": {"net_id": "000013", "tenant_id": "ttn", "cluster_id": "eu1"}}}


def _chirpstack(run: str, device: int, t: datetime, i: int) -> tuple[str, dict[str, str], dict[str, Any]]:
    return "/api/v1/ingest/chirpstack?event=up", {}, {
        "deduplicationId": str(uuid.UUID(int=i)), "time": t.isoformat(),
        "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "ChirpStack",
                       "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97", "applicationName": "bench",
                       "deviceProfileName": "Milesight EM320-TH", "deviceName": f"em320 {device}",
                       "devEui": f"{run}{device:08x}", "tags": {}},
        "devAddr": "00189440", "dr": 5, "fCnt": i, "fPort": 85, "data": "AXVhA2fo/wRobw==",
        "object": {"temperature": (i % 300) / 10, "humidity": 40 + i % 50},
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -36, "snr": 10.5, "context": "E3OWOQ=="}],
        "txInfo": {"frequency": 867100000}}


def _airrohr(run: str, device: int, _t: datetime, i: int) -> tuple[str, dict[str, str], dict[str, Any]]:
    values = [("SDS_P1", i % 90), ("SDS_P2", i % 40), ("BME280_temperature", (i % 300) / 10),
              ("BME280_pressure", 100_000 + i % 2000), ("BME280_humidity", 40 + i % 50), ("signal", -70)]
    return "/api/v1/ingest/sensor-community", {"X-Sensor": f"esp8266-{run}{device}"}, {
        "esp8266id": f"{run}{device}", "software_version": "NRZ-2020-129",
        "sensordatavalues": [{"value_type": k, "value": f"{v:.2f}"} for k, v in values]}


def _senml(run: str, device: int, t: datetime, i: int) -> tuple[str, dict[str, str], Any]:
    return "/api/v1/ingest/senml", {"Content-Type": "application/senml+json"}, [
        {"bn": f"urn:dev:{run}-{device}:", "bt": t.timestamp(), "n": "voltage", "u": "V", "v": 230 + i % 10},
        {"n": "current", "u": "A", "v": (i % 100) / 10}]


def _json(run: str, device: int, t: datetime, i: int) -> tuple[str, dict[str, str], dict[str, Any]]:
    return f"/api/v1/ingest/json/{run}-{device}", {}, {
        "time": t.isoformat(), "readings": {"power": i % 3000, "voltage": 230 + (i % 10) / 10}}


SOURCES: tuple[Callable[[str, int, datetime, int], tuple[str, dict[str, str], Any]], ...] = (
    _ttn, _chirpstack, _airrohr, _senml, _json)


class Payloads:
    """The i-th request of the run: source i mod 5, device and time from i (so no two name one reading)."""

    def __init__(self, run: str, start: datetime) -> None:
        self.run, self.start = run, start
        self.auth = b"X-API-Key: " + KEY.encode()

    def __call__(self, i: int) -> Payload:
        source = SOURCES[i % len(SOURCES)]
        n = i // len(SOURCES)
        path, headers, doc = source(self.run, n % DEVICES, self.start + timedelta(seconds=n // DEVICES), i)
        body = orjson.dumps(doc)
        lines = [f"POST {path} HTTP/1.1".encode(), b"Host: bench", self.auth, f"Content-Length: {len(body)}".encode()]
        if "Content-Type" not in headers:
            lines.append(b"Content-Type: application/json")
        lines += [f"{k}: {v}".encode() for k, v in headers.items()]
        return b"\r\n".join(lines) + b"\r\n\r\n", body


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
                ) -> tuple[int, bytes]:
    writer.write(head + body)
    response = await reader.readuntil(b"\r\n\r\n")
    status = int(response[9:12])
    lower = response.lower()
    at = lower.find(b"content-length:")
    length = int(lower[at + 15:lower.find(b"\r\n", at)]) if at >= 0 else 0
    return status, await reader.readexactly(length)


class Load:
    def __init__(self, port: int, payloads: Payloads, connections: int) -> None:
        self.port, self.payloads, self.connections = port, payloads, connections
        self.next = 0
        self.measuring = False
        self.latencies: list[float] = []
        self.answers: Counter[int] = Counter()
        self.readings = 0  # announced by the 202 answers, warm-up included
        self.accepted = 0  # 202s while measuring

    async def worker(self, until: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while time.monotonic() < until:
                i, self.next = self.next, self.next + 1
                head, body = self.payloads(i)
                t = time.perf_counter()
                status, answer = await _post(reader, writer, head, body)
                elapsed = time.perf_counter() - t
                if status == 202:
                    self.readings += orjson.loads(answer)["readings"]
                if self.measuring:
                    self.answers[status] += 1
                    self.latencies.append(elapsed)
                    self.accepted += status == 202
                elif status != 202:
                    self.answers[status] += 1
        finally:
            writer.close()


async def _fresh_database(settings: Settings) -> tuple[str, str]:
    name = f"citysense_bench_push_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(settings.database_url)._replace(path=f"/{name}"))
    from models.migrate import apply

    conn = await asyncpg.connect(url)
    try:
        await apply(conn, settings.model_copy(update={"database_url": url}))
    finally:
        await conn.close()
    return name, url


async def _drop_database(settings: Settings, name: str) -> None:
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _wait_push_ready(base: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/health")).json().get("push") == "connected":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API's push connection did not come up for the push bench")


def _cpu_s(pid: int) -> float:
    try:
        return stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


async def _stored(url: str, run: str, want: int, within: float) -> int:
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + within
        while True:
            n: int = await conn.fetchval("SELECT count(*) FROM readings WHERE sensor_id LIKE $1", f"%{run}%")
            if n >= want or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def run(settings: Settings, ep: MqttEndpoint, quick: bool, log_dir: Path,
              seconds: float | None = None, connections: int = 32) -> dict[str, Any]:
    seconds = seconds or (5.0 if quick else 20.0)
    warmup = 1.0 if quick else 3.0
    name, url = await _fresh_database(settings)
    run_id = f"bp{uuid.uuid4().hex[:6]}"
    common = {"CITYSENSE_DATABASE_URL": url, "CITYSENSE_MQTT_URL": mqtt_url(ep),
              "CITYSENSE_API_KEYS": f"{KEY}:ingest", "CITYSENSE_INGEST_TOPICS": "",
              "CITYSENSE_INGEST_CLIENT_ID": f"bench-push-ingest-{os.getpid()}", "CITYSENSE_INGEST_METRICS_PORT": "0",
              "CITYSENSE_INGEST_LIVE_TOPIC": f"citysense/bench-push-{os.getpid()}",
              # a session that ends with the run: none is left queueing on a shared broker afterwards
              "CITYSENSE_INGEST_SESSION_EXPIRY_S": "0"}
    port = _free_port()
    try:
        with _process(["ingest"], common, log_dir / "bench-push-ingest.log") as ingest, \
                _process(["api", "--port", str(port)], common, log_dir / "bench-push-api.log") as api:
            await _wait_push_ready(f"http://127.0.0.1:{port}")
            load = Load(port, Payloads(run_id, datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)),
                        connections)
            start = time.monotonic()
            workers = [asyncio.create_task(load.worker(start + warmup + seconds)) for _ in range(connections)]
            await asyncio.sleep(warmup)
            load.measuring = True
            t0 = time.monotonic()
            pids = {"api": api.pid, "ingest": ingest.pid, "client": os.getpid()}
            cpu0 = {k: _cpu_s(p) for k, p in pids.items()}
            await asyncio.gather(*workers)
            elapsed = time.monotonic() - t0
            cpu = {k: _cpu_s(p) - cpu0[k] for k, p in pids.items()}
            stored = await _stored(url, run_id, load.readings, within=120)
    finally:
        await _drop_database(settings, name)
    lat = np.array(load.latencies) * 1000 if load.latencies else np.zeros(1)
    per_s = load.accepted / elapsed
    return {
        "connections": connections, "seconds": round(elapsed, 1), "payloads_accepted": load.accepted,
        "accepted_per_s": round(per_s), "target_per_s": TARGET_PER_S,
        "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "answers": {str(k): v for k, v in sorted(load.answers.items())},
        # CPU per accepted payload by process: on a shared machine the wall-clock rate depends on who else runs,
        # this does not (the broker's and the database's share is not counted here).
        "cpu_ms_per_payload": {k: round(v * 1000 / max(load.accepted, 1), 3) for k, v in cpu.items()},
        "cpu_share": {k: round(v / elapsed, 2) for k, v in cpu.items()},
        "readings_announced": load.readings, "readings_stored": stored,
        "ok": stored == load.readings and set(load.answers) == {202} and (quick or per_s >= TARGET_PER_S),
    }


def _main() -> None:  # `python -m bench.api_push`: the push bench alone, on a private broker
    import json
    import tempfile

    from citysense.settings import load_settings
    from devenv.mosquitto import PrivateBroker

    tmp = Path(tempfile.mkdtemp(prefix="citysense-bench-push-"))
    broker = PrivateBroker(tmp / "mosquitto")
    broker.start()
    try:
        print(json.dumps(asyncio.run(run(load_settings(), broker.endpoint, quick=False, log_dir=tmp)), indent=2))
    finally:
        broker.stop()


if __name__ == "__main__":
    _main()

