"""Entry point of `citysense poll telraam|sensor-community [--once]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime

from prometheus_client import start_http_server
from pydantic import ValidationError

from citysense import logs
from citysense.settings import Settings, load_settings
from ingest.pollers import area_poller, telraam_poller
from ingest.pollers.running import Stopper, run

log = logging.getLogger("citysense.poll")


def _time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad time {text!r} (ISO-8601, e.g. 2026-11-01T00:00Z)") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _segments(text: str) -> tuple[str, ...]:
    segs = tuple(s.strip() for s in text.split(",") if s.strip())
    if not segs or not all(s.isdigit() for s in segs):
        raise argparse.ArgumentTypeError(f"segments are Telraam's numeric segment ids, comma-separated: {text!r}")
    return segs


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", choices=["telraam", "sensor-community"])
    p.add_argument("--once", action="store_true", help="one pass (a telraam backfill runs to its end), then exit")
    p.add_argument("--segments", type=_segments, help="telraam: these segment ids instead of the registry's")
    p.add_argument("--since", type=_time, help="telraam: where a segment without stored hours starts (UTC)")


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    stopper = Stopper()
    stopper.install()
    if args.source == "telraam":
        poller = telraam_poller.TelraamPoller(settings, telraam_poller.Options(args.segments, args.since), stopper)
        return await run("telraam", poller.cycle, settings.telraam_interval_s, args.once, stopper, log)
    area = area_poller.AreaPoller(settings)
    return await run("sensor-community", area.cycle, settings.sensor_community_interval_s, args.once, stopper, log)


def main(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"poll: bad configuration: {first.get('loc', ('?',))[0]}: {first.get('msg')}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call would drown the cycle lines
    # Only the real service needs a key; the simulated one (`citysense simulate telraam-api`) does not.
    real_telraam = settings.telraam_url == type(settings).model_fields["telraam_url"].default
    if args.source == "telraam" and not settings.telraam_api_key and real_telraam:
        log.warning("CITYSENSE_TELRAAM_API_KEY is empty: the real Telraam API will refuse the calls")
    if settings.poll_metrics_port:
        start_http_server(settings.poll_metrics_port, addr=settings.poll_metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.poll_metrics_host, settings.poll_metrics_port)
    where = settings.telraam_url if args.source == "telraam" else settings.sensor_community_url
    log.info("poll %s starting: %s -> broker %r%s", args.source, where, settings.mqtt, " (once)" if args.once else "")
    return asyncio.run(_main(args, settings))
