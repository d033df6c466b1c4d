"""Entry points of `citysense simulate` and `citysense backfill` (options: simulators.options).

Both exit 1 with a one-line error on stderr for options that cannot work (a bad
fleet file, a start in the future) and for an unreachable broker or database.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import ValidationError

from citysense.settings import Settings, load_settings
from simulators.faults import FaultConfig
from simulators.fleet import Fleet, FleetError, load_fleet
from simulators.plan import LOOKBACK_S, PlanStats, iter_events
from simulators.signals import EPOCH_S

_EARLIEST = datetime.fromtimestamp(EPOCH_S + LOOKBACK_S, UTC)


def default_start(now: datetime, speed: float, duration: timedelta | None) -> datetime:
    """Where an accelerated run starts so that simulated time never overtakes the wall clock.

    Simulated time after w wall seconds is start + speed*w; it must stay <= now + w. With a
    duration D (simulated) the run lasts D/speed wall seconds, so start = now - D*(1 - 1/speed)
    makes it end exactly at the wall clock. Without one, start a day back; once the run catches
    up it continues in real time.
    """
    if speed <= 1.0:
        return now
    if duration is None:
        return now - timedelta(hours=24)
    return now - duration * (1.0 - 1.0 / speed)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SystemExit(_fail(f"bad configuration: {first.get('loc', ('?',))[0]}: {first.get('msg')}")) from None


def _fleet(path: str | None) -> Fleet:
    try:
        return load_fleet(path)
    except FleetError as exc:
        raise SystemExit(_fail(str(exc))) from None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def simulate(args: argparse.Namespace) -> int:
    from simulators.http_push import HttpSink, PushRefused, ingest_key
    from simulators.publisher import BrokerUnreachable, MqttSink, Pace, publish, register_fleet

    settings = _settings()
    key: str | None = None
    if args.via == "http":
        from citysense.api_keys import parse_api_keys

        key = args.api_key or ingest_key(parse_api_keys(settings.api_keys))
        if not key:
            return _fail("--via http needs a key with the ingest scope: --api-key KEY, or an entry KEY:ingest in "
                         "CITYSENSE_API_KEYS")
    fleet = _fleet(args.fleet)
    now = datetime.now(UTC).replace(microsecond=0)
    start: datetime = args.start or default_start(now, args.speed, args.duration)
    start = start.replace(microsecond=0)
    if start > now + timedelta(minutes=1):
        return _fail(f"--start {_iso(start)} is in the future; ingest rejects readings more than "
                     f"{settings.ingest_max_future_s // 60} minutes ahead of its clock")
    if start < _EARLIEST:
        return _fail(f"--start must be after {_iso(_EARLIEST)} (the simulators' epoch)")
    end = start + args.duration if args.duration is not None else None
    faults = FaultConfig(args.faults, args.fault_rate)
    pace = Pace(start.timestamp(), args.speed, args.rate)
    until = _iso(end) if end else "until Ctrl-C"
    print(
        f"simulate: {len(fleet)} sensors from {fleet.name}, seed {args.seed}, speed {args.speed:g}x, "
        f"simulated {_iso(start)} -> {until}, faults: "
        f"{', '.join(sorted(faults.enabled)) + f' at rate {faults.rate:g}' if faults.enabled else 'none'}, "
        f"broker {settings.mqtt!r}" + (f", HTTP push to {args.api_url}" if key else ""),
        file=sys.stderr, flush=True,
    )
    if args.speed > 1 and end is not None and end > now + timedelta(seconds=1) and args.start is not None:
        print("simulate: note: simulated time will be held back to the wall clock once it catches up",
              file=sys.stderr, flush=True)

    async def main() -> int:
        client_id = f"citysense-simulate-{os.getpid()}"
        http = HttpSink(args.api_url, key, MqttSink(settings.mqtt, client_id)) if key else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if not args.no_register:
            await register_fleet(settings.database_url, fleet, sys.stderr)
        stats = PlanStats()
        events = iter_events(fleet, start, end, args.seed, faults, settings.tz, stats)
        try:
            summary = await publish(
                events, settings.mqtt, pace, client_id=client_id, stop=stop,
                out=sys.stderr, progress_every=args.progress_every, stats=stats, sink=http,
            )
        except (BrokerUnreachable, PushRefused) as exc:
            return _fail(str(exc))
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        for line in summary.lines() + (http.lines() if http else []):
            print(line, file=sys.stderr, flush=True)
        return 0

    return asyncio.run(main())


def backfill(args: argparse.Namespace) -> int:
    from ingest.prepare import prepare_config
    from simulators.backfill import backfill as run_backfill

    settings = _settings()
    fleet = _fleet(args.fleet)
    end: datetime = args.end or datetime.now(UTC).replace(microsecond=0)
    if end > datetime.now(UTC) + timedelta(minutes=1):
        return _fail(f"--end {_iso(end)} is in the future")
    start = end - timedelta(days=args.days)
    if start < _EARLIEST:
        return _fail(f"the history must start after {_iso(_EARLIEST)} (the simulators' epoch)")
    if not math.isfinite(args.days):
        return _fail("--days must be finite")
    print(f"backfill: {len(fleet)} sensors from {fleet.name}, seed {args.seed}, {_iso(start)} -> {_iso(end)} "
          f"({args.days:g} days), batches of {args.batch_size} messages", file=sys.stderr, flush=True)
    try:
        summary = asyncio.run(run_backfill(
            fleet, start, end, args.seed, settings.database_url, prepare_config(settings),
            batch_size=args.batch_size, out=sys.stderr,
        ))
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidPasswordError) as exc:
        return _fail(f"cannot reach the database: {exc}")
    except asyncpg.UndefinedTableError as exc:
        return _fail(f"the database has no citysense schema ({exc}); run `citysense migrate` first")
    for line in summary.lines():
        print(line, file=sys.stderr, flush=True)
    return 0

