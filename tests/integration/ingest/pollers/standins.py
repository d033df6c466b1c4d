"""Run the simulated outside APIs (simulators.api_standins) in the test process, on a free port,
and run `citysense poll …` as a real process against them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from tests.integration.support import ROOT, free_port


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """The app under uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stand-in API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def poll_env(database_url: str, mqtt_url: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "CITYSENSE_DATABASE_URL": database_url, "CITYSENSE_MQTT_URL": mqtt_url,
            "CITYSENSE_POLL_METRICS_PORT": "0", **{f"CITYSENSE_{k.upper()}": v for k, v in settings.items()}}


def poll(args: list[str], env: dict[str, str], log: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`citysense poll ARGS` to its end; its output is appended to `log` and returned."""
    done = subprocess.run([sys.executable, "-m", "citysense.cli", "poll", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    with log.open("a") as f:
        f.write(done.stdout + done.stderr)
    return done


def start_poll(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "citysense.cli", "poll", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
