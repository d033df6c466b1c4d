"""Command-line options: values are parsed (and refused) before anything connects."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from citysense.cli import build_parser
from simulators.faults import FAULTS
from simulators.options import parse_duration, parse_faults, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
     ("1.5d", timedelta(hours=36)), ("1w", timedelta(days=7)), ("1h30m", timedelta(minutes=90)),
     ("500ms", timedelta(milliseconds=500)), (" 10 min ", timedelta(minutes=10))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "-5m", "0", "5 parsecs", "h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_parse_time_defaults_to_utc_and_converts_offsets() -> None:
    assert parse_time("2026-11-20T10:00:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_time("2026-11-20T10:00:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_time("2026-11-20T11:00:00+01:00") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="bad time 'yesterday'"):
        parse_time("yesterday")


def test_parse_faults() -> None:
    assert parse_faults("duplicates, malformed") == {"duplicates", "malformed"}
    assert parse_faults("all") == set(FAULTS)
    assert parse_faults("") == frozenset()
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown fault\(s\) gremlins; choose from duplicates"):
        parse_faults("duplicates,gremlins")


def test_simulate_options_through_the_citysense_parser() -> None:
    args = build_parser("simulate").parse_args(
        ["simulate", "--speed", "60", "--duration", "1h", "--faults", "duplicates,late", "--fault-rate", "0.1",
         "--seed", "9", "--rate", "50", "--start", "2026-11-20T08:00:00Z", "--no-register"]
    )
    assert args.speed == 60.0
    assert args.duration == timedelta(hours=1)
    assert args.seed == 9
    assert args.rate == 50.0
    assert args.faults == {"duplicates", "late"}
    assert args.fault_rate == 0.1
    assert args.no_register
    assert args.start == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert args.fleet is None


def test_backfill_options_through_the_citysense_parser() -> None:
    args = build_parser("backfill").parse_args(
        ["backfill", "--days", "2.5", "--end", "2026-11-20", "--batch-size", "500"]
    )
    assert args.days == 2.5
    assert args.end == datetime(2026, 11, 20, tzinfo=UTC)
    assert args.batch_size == 500
    defaults = build_parser("backfill").parse_args(["backfill"])
    assert defaults.days == 30.0
    assert defaults.end is None
    assert defaults.seed == 1


@pytest.mark.parametrize(
    "argv",
    [["simulate", "--speed", "0"], ["simulate", "--fault-rate", "2"], ["simulate", "--faults", "nope"],
     ["simulate", "--duration", "never"], ["backfill", "--days", "-1"], ["backfill", "--batch-size", "0"]],
)
def test_bad_values_are_one_line_errors_with_status_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser(argv[0]).parse_args(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: citysense {argv[0]}: argument ")
    assert err.count("\n") == 1
