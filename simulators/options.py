"""Command-line options of `citysense simulate` and `citysense backfill`.

Parsing of values (durations, times, fault lists) lives in plain functions so that
argparse reports a bad value as a one-line usage error before anything connects.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from simulators.faults import FAULTS

_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>min|ms|s|m|h|d|w)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> timedelta:
    """`90` (seconds), `15m`, `2h`, `1.5d`, `1w` or a combination such as `1h30m`."""
    s = text.strip().lower().replace(" ", "")
    if not s:
        raise argparse.ArgumentTypeError("empty duration")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if m is None or m.end() == pos:
            raise argparse.ArgumentTypeError(f"bad duration {text!r} (use e.g. 90s, 15m, 2h, 1d)")
        total += float(m["n"]) * _UNIT_SECONDS[m["unit"] or "s"]
        pos = m.end()
    if total <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return timedelta(seconds=total)


def parse_time(text: str) -> datetime:
    """ISO-8601; a time without a zone is UTC (the simulators never guess a local zone)."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad time {text!r} (use ISO-8601, e.g. 2026-11-20T00:00:00Z)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_faults(text: str) -> frozenset[str]:
    names = {f.strip() for f in text.split(",") if f.strip()}
    if "all" in names:
        return frozenset(FAULTS)
    unknown = sorted(names - set(FAULTS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)} or all"
        )
    return frozenset(names)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return v


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in 0..1, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return v


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A bad value is one line on stderr and exit status 1, like every other simulator error."""

    def error(message: str) -> NoReturn:
        parser.exit(1, f"error: {parser.prog}: {message}\n")

    setattr(parser, "error", error)  # noqa: B010 - argparse offers no other hook for its error output


def _add_common(parser: argparse.ArgumentParser) -> None:
    _one_line_errors(parser)
    parser.add_argument(
        "--fleet", metavar="FILE", default=None,
        help="fleet file (TOML) placing the simulated sensors; default: the packaged Leuven fleet",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same traffic")


def add_simulate_options(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument(
        "--speed", type=_positive_float, default=1.0,
        help="time acceleration: 60 = one simulated hour per real minute (default 1, real time)",
    )
    parser.add_argument(
        "--rate", type=_positive_float, default=None, metavar="MSG_PER_S",
        help="cap on messages published per second (default: no cap)",
    )
    parser.add_argument(
        "--duration", type=parse_duration, default=None,
        help="simulated time to run, e.g. 30m, 6h, 2d (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--start", type=parse_time, default=None,
        help="simulated start time (ISO-8601, UTC if no zone). Default: now at --speed 1; with --speed > 1 "
        "a time in the past chosen so simulated time never runs ahead of the wall clock "
        "(ingest rejects readings more than 10 minutes in the future): now - duration*(1 - 1/speed), "
        "or now - 24h without --duration. Simulated time is held back to the wall clock once it catches up.",
    )
    parser.add_argument(
        "--faults", type=parse_faults, default=frozenset(), metavar="LIST",
        help=f"comma-separated faults to inject: {', '.join(FAULTS)} (or all)",
    )
    parser.add_argument(
        "--fault-rate", type=_rate, default=0.02, metavar="P",
        help="probability that a chosen fault strikes: per message for duplicates, late, out-of-order and "
        "malformed; per sensor and simulated hour for clock-skew, counter-reset, dropout, low-battery and stuck "
        "(default 0.02)",
    )
    parser.add_argument(
        "--progress-every", type=_positive_float, default=5.0, metavar="SECONDS",
        help="seconds between progress lines on stderr (default 5)",
    )
    parser.add_argument(
        "--no-register", action="store_true",
        help="do not upsert the fleet's sensors (kind, district, position, bin depth) into the database",
    )
    parser.add_argument(
        "--via", choices=("mqtt", "http"), default="mqtt",
        help="mqtt (default): every device publishes on its topic; http: The Things Stack and ChirpStack uplinks, "
        "airrohr stations and SenML/JSON senders POST to the API's push endpoints (/api/v1/ingest/...) the way "
        "those senders do, the MQTT-only devices still publish over MQTT",
    )
    parser.add_argument(
        "--api-url", default="http://127.0.0.1:8000", metavar="URL",
        help="with --via http: the API's base URL (default http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--api-key", default=None, metavar="KEY",
        help="with --via http: a key with the ingest scope (default: the first key:ingest of CITYSENSE_API_KEYS)",
    )


def add_backfill_options(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--days", type=_positive_float, default=30.0, help="days of history to write (default 30)")
    parser.add_argument(
        "--end", type=parse_time, default=None,
        help="end of the history (ISO-8601, UTC if no zone; default: now)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=4000, metavar="MESSAGES",
        help="messages per database transaction (default 4000)",
    )
