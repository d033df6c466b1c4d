"""`citysense decode` as users run it: a real subprocess, stdin or a file, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"


def decode(topic: str, payload: bytes | None = None, file: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "citysense.cli", "decode", "--topic", topic]
    if file is not None:
        argv.append(str(file))
    return subprocess.run(argv, input=payload, capture_output=True, timeout=30, check=False)


def test_file_decodes_to_one_json_reading_per_line() -> None:
    done = decode("dsmr/raw", file=FIXTURES / "dsmr-p1__be-fluvius-v171-telegram.txt")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(set(r) == {"sensor_id", "metric", "value", "unit", "time"} for r in rows)
    imports = [r for r in rows if r["metric"] == "energy_import"]
    assert imports == [{"sensor_id": "dsmr:1SAG3100721326", "metric": "energy_import", "value": 571.562,
                        "unit": "kWh", "time": "2023-11-02T11:15:48Z"}]


def test_stdin_and_null_time() -> None:
    done = decode("shellies/shelly-plug-s1/relay/0/power", b"20.58")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sensor_id": "shelly:shelly-plug-s1", "metric": "power", "value": 20.58,
                                       "unit": "W", "time": None}


def test_rejected_payload_exits_1_with_one_line_on_stderr() -> None:
    done = decode("citysense/json/x", b'{"readings": {"voltage": 3000}}')
    assert done.returncode == 1
    assert done.stdout == b""
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "voltage=3000 V outside" in lines[0]
    assert decode("no/such/format", b"1").returncode == 1
