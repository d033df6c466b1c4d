"""`citysense simulate` / `citysense backfill` entry points: start times, and one-line errors with exit 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citysense.cli import build_parser
from simulators import cli

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_default_start_keeps_simulated_time_behind_the_wall_clock() -> None:
    assert cli.default_start(NOW, 1.0, timedelta(hours=2)) == NOW
    start = cli.default_start(NOW, 60.0, timedelta(hours=1))
    assert start == NOW - timedelta(minutes=59)
    # At every wall second w of the run, simulated time start + 60 w is at most NOW + w; equal at the end.
    for w in range(0, 61):
        assert start + timedelta(seconds=60 * w) <= NOW + timedelta(seconds=w)
    assert start + timedelta(hours=1) == NOW + timedelta(minutes=1)
    assert cli.default_start(NOW, 60.0, None) == NOW - timedelta(hours=24)


def _run(argv: list[str]) -> int:
    args = build_parser(argv[0]).parse_args(argv)
    code: int = args.func(args)
    return code


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_fleet_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[sensor]]\nid = "tasmota:x"\nkind = "air"\nformat = "tasmota"\ndistrict = "Brussel"\n'
                     "lat = 50.88\nlon = 4.70\n")
    with pytest.raises(SystemExit) as exc:
        _run(["simulate", "--fleet", str(fleet), "--no-register"])
    assert exc.value.code == 1
    assert _one_error_line(capsys.readouterr().err) == (
        "error: sensor 1 (tasmota:x): unknown district 'Brussel'; expected one of Leuven, Heverlee, Kessel-Lo, "
        "Wilsele, Wijgmaal"
    )


def test_start_in_the_future_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _run(["simulate", "--start", later, "--no-register"]) == 1
    assert "is in the future" in _one_error_line(capsys.readouterr().err)


def test_unreachable_broker_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYSENSE_MQTT_URL", "mqtt://127.0.0.1:9")
    assert _run(["simulate", "--no-register", "--duration", "10m", "--speed", "1000"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("error: cannot reach the MQTT broker MqttEndpoint(mqtt://127.0.0.1:9)")


def test_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYSENSE_DATABASE_URL", "postgresql://nobody:x@127.0.0.1:9/none")
    assert _run(["backfill", "--days", "1"]) == 1
    assert _one_error_line(capsys.readouterr().err).startswith("error: cannot reach the database: ")


def test_backfill_end_in_the_future_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["backfill", "--end", "2099-01-01"]) == 1
    assert "is in the future" in _one_error_line(capsys.readouterr().err)


def test_bad_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CITYSENSE_MQTT_URL", "http://broker")
    with pytest.raises(SystemExit) as exc:
        _run(["simulate", "--no-register"])
    assert exc.value.code == 1
    assert _one_error_line(capsys.readouterr().err).startswith("error: bad configuration: mqtt_url")
