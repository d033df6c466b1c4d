"""deploy/prometheus/ against Debian's prometheus: promtool accepts the shipped config and rules,
every metric the rules use is one the code really exports, and a real Prometheus scraping a running
ingest and API sees its targets up, the metric names, and the shipped rules load and evaluate."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from citysense.endpoints import MqttEndpoint
from devenv.mosquitto import free_port
from ingest.pollers import telemetry as poll_telemetry
from tests.integration.api.support import api_process
from tests.integration.ingest.test_ingest import json_stream
from tests.integration.support import ROOT, ApiProcess, publish_all_fast

DEPLOY = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
if not (PROMTOOL and PROMETHEUS):
    # scripts/bootstrap.sh installs Debian's prometheus; under CI its absence is a failure.
    if os.environ.get("CI"):
        raise AssertionError("promtool/prometheus missing: run scripts/bootstrap.sh")
    pytest.skip("Debian's prometheus is not installed (scripts/bootstrap.sh installs it)", allow_module_level=True)


def promtool(*args: str) -> None:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_shipped_config_and_rules() -> None:
    promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    promtool("check", "rules", str(DEPLOY / "alerts.yml"))


def rule_metric_names() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    return {name for r in rules for name in re.findall(r"\bcitysense_\w+", r["expr"])}


def scraped_names(url: str) -> set[str]:
    text = httpx.get(url, timeout=10).text
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


@pytest.fixture
def api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> Iterator[ApiProcess]:
    server = api_process(database_url, mqtt_endpoint, tmp_path)
    yield server
    server.stop()


def _up(prom: str) -> list[dict[str, Any]]:
    active: list[dict[str, Any]] = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return active


def test_a_real_prometheus_scrapes_ingest_and_api(
    ingest_factory: Any, api: ApiProcess, mqtt_endpoint: MqttEndpoint, unique: str, tmp_path: Path,
) -> None:
    metrics_port = free_port()
    ingest_factory(topics="citysense/json/+", CITYSENSE_INGEST_METRICS_PORT=str(metrics_port))
    publish_all_fast(mqtt_endpoint, json_stream(unique, 50))
    httpx.get(f"{api.url}/health", timeout=10)

    # What the rules use must exist: in ingest's and the API's answers, or among the pollers' metrics.
    exported = scraped_names(f"http://127.0.0.1:{metrics_port}/metrics") | scraped_names(f"{api.url}/metrics")
    # (the pollers' series all carry labels, so an idle process would show none: take their declarations)
    poller_names = {fam.name + ("_total" if fam.type == "counter" else "")
                    for c in vars(poll_telemetry).values() if isinstance(c, MetricWrapperBase) for fam in c.describe()}
    assert "citysense_poll_last_success_timestamp_seconds" in poller_names
    missing = rule_metric_names() - exported - poller_names
    assert not missing, f"alerts.yml uses metrics nobody exports: {sorted(missing)}"

    # The shipped config's shape, the targets pointed at our processes on loopback.
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "alerts.yml")]
    targets = {"citysense-ingest": f"127.0.0.1:{metrics_port}", "citysense-api": f"127.0.0.1:{api.port}"}
    config["scrape_configs"] = [sc for sc in config["scrape_configs"] if sc["job_name"] in targets]
    assert len(config["scrape_configs"]) == len(targets)
    for sc in config["scrape_configs"]:
        sc["static_configs"] = [{"targets": [targets[sc["job_name"]]]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    promtool("check", "config", str(tmp_path / "prometheus.yml"))

    port = free_port()
    prom = f"http://127.0.0.1:{port}"
    assert PROMETHEUS is not None
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        active: list[dict[str, Any]] = []
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                active = _up(prom)
                if len(active) == len(targets) and all(t["health"] == "up" for t in active):
                    break
            except (httpx.HTTPError, ValueError):  # not listening yet, or not ready (a plain-text 503)
                pass
            assert time.monotonic() < deadline, f"targets not up: {active}"
            time.sleep(0.5)
        assert {t["labels"]["job"] for t in active} == set(targets)

        want = {"citysense_ingest_connected", "citysense_ingest_readings_total", "citysense_ingest_db_retries_total",
                "citysense_ingest_rejected_messages_total", "citysense_api_http_requests_total",
                "citysense_api_registry_age_seconds", "citysense_api_live_clients"}
        deadline = time.monotonic() + 30
        names_url = f"{prom}/api/v1/label/__name__/values"
        while not want <= (names := set(httpx.get(names_url, timeout=5).json()["data"])):
            assert time.monotonic() < deadline, f"missing in Prometheus: {sorted(want - names)}"
            time.sleep(0.5)
        connected = httpx.get(f"{prom}/api/v1/query", params={"query": "citysense_ingest_connected"},
                              timeout=5).json()["data"]["result"]
        assert [r["value"][1] for r in connected] == ["1"]

        # The shipped rules load and evaluate without errors against real series.
        deadline = time.monotonic() + 30
        while True:
            groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
                break
            assert time.monotonic() < deadline, rules
            time.sleep(0.5)
        assert len(rules) == len(yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"])
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        firing = {r["name"] for r in rules if r["state"] == "firing"}
        assert "IngestDisconnected" not in firing
    finally:
        proc.terminate()
        proc.wait(10)
