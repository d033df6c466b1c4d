"""The `citysense` command: one entry point, a subcommand per job (docs/interface.md).

Each subcommand imports its module lazily, so `citysense decode` does not pay for
FastAPI and `citysense services` works before the database exists.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import Any


def _wing(module: str, command: str) -> Any:
    """The wing module `module` (bench/ or devenv/), or None after saying why when this installation
    has none: the service image carries the product only (Dockerfile)."""
    wing = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != wing:
            raise
    print(f"citysense {command}: not in this installation ({wing}/ is left out of the service image); "
          "run it from a checkout (scripts/bootstrap.sh)", file=sys.stderr)
    return None


def _services(args: argparse.Namespace) -> int:
    services = _wing("devenv.local_services", "services")
    return 2 if services is None else int(services.run(args.action, args.only))


def _migrate(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import asyncpg

    from citysense.settings import load_settings
    from models import migrate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    try:
        applied = asyncio.run(migrate.run(settings))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"migrate: cannot apply the schema: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {len(applied)} migration(s) applied, schema up to date")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest import consumer

    return consumer.main()


def _api(args: argparse.Namespace) -> int:
    from api import server

    return server.main(host=args.host, port=args.port)


def _simulate(args: argparse.Namespace) -> int:
    from simulators import cli

    return cli.simulate(args)


def _simulate_api(args: argparse.Namespace) -> int:
    from simulators import api_standins

    return api_standins.main(args)


def _backfill(args: argparse.Namespace) -> int:
    from simulators import cli

    return cli.backfill(args)


def _decode(args: argparse.Namespace) -> int:
    from ingest import decode_cli

    return decode_cli.main(args.topic, args.file)


def _poll(args: argparse.Namespace) -> int:
    from ingest.pollers import command

    return command.main(args)


def _bridge_config(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from pydantic import ValidationError

    from citysense.mosquitto_conf import render_ttn_bridge
    from citysense.settings import load_settings

    template = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "bridge-ttn.conf.template"
    if not template.exists():
        print(f"bridge-config: no template at {template}; run it from a checkout", file=sys.stderr)
        return 2
    try:
        s = load_settings()
        text = render_ttn_bridge(template.read_text(), address=s.bridge_ttn_address, username=s.bridge_ttn_username,
                                 api_key=s.bridge_ttn_api_key, cafile=s.bridge_ttn_cafile,
                                 client_id=s.bridge_ttn_client_id)
    except (ValidationError, ValueError) as exc:
        print(f"bridge-config: {exc} (set CITYSENSE_BRIDGE_TTN_USERNAME, _API_KEY, _ADDRESS)", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
        return 0
    # It holds the API key: readable by its owner only, from the first byte on.
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return 0


def _open_data(args: argparse.Namespace) -> int:
    from api.opendata import command

    return command.run(args)


def _bench(args: argparse.Namespace) -> int:
    bench_run = _wing("bench.run", "bench")
    return 2 if bench_run is None else int(bench_run.main(args))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command` names the subcommand about to run, so only its options are imported."""
    parser = argparse.ArgumentParser(prog="citysense", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("services", _services, "local Mosquitto + TimescaleDB on loopback")
    p.add_argument("action", choices=["up", "down", "status", "env"])
    p.add_argument("--only", choices=["postgres", "mosquitto"], help="up/down one service only")
    add("migrate", _migrate, "apply the database schema (idempotent)")
    add("ingest", _ingest, "run the MQTT -> TimescaleDB consumer")
    p = add("api", _api, "run the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p = add("simulate", _simulate, "publish live simulated device traffic over MQTT")
    if command == "simulate":
        from simulators.options import add_simulate_options

        add_simulate_options(p)
    p = add("simulate-api", _simulate_api, "serve a simulated Telraam or Sensor.Community API from the fleet")
    if command == "simulate-api":
        from simulators.api_standins import add_options as add_standin_options

        add_standin_options(p)
    p = add("backfill", _backfill, "write simulated history straight into the database")
    if command == "backfill":
        from simulators.options import add_backfill_options

        add_backfill_options(p)
    p = add("decode", _decode, "decode one payload exactly as ingest would; one JSON reading per line")
    p.add_argument("--topic", required=True, help="the MQTT topic the payload arrived on")
    p.add_argument("file", nargs="?", help="payload file (default: standard input)")
    p = add("poll", _poll, "poll an HTTP source (Telraam, Sensor.Community) and publish its records for ingest")
    if command == "poll":
        from ingest.pollers.command import add_options

        add_options(p)
    p = add("bridge-config", _bridge_config, "write the Mosquitto bridge from a LoRaWAN network server's broker")
    p.add_argument("server", choices=["ttn"], help="ttn: The Things Stack (CITYSENSE_BRIDGE_TTN_*)")
    p.add_argument("--output", "-o", help="write to this file (mode 600) instead of standard output")
    p = add("open-data", _open_data, "build the open-data bulk files (daily CSV per dataset) of past days")
    if command == "open-data":
        from api.opendata.command import add_options as add_open_data_options

        add_open_data_options(p)
    p = add("bench", _bench, "the throughput/latency benchmark; prints a JSON report")
    if command == "bench" and importlib.util.find_spec("bench") is not None:  # else _bench says why
        from bench.options import add_bench_options

        add_bench_options(p)
    return parser


_SIMULATED_APIS = {"telraam-api": "telraam", "sensor-community-api": "sensor-community"}


def canonical_words(words: list[str]) -> list[str]:
    """`citysense simulate telraam-api …` is another spelling of `citysense simulate-api telraam …`."""
    if words[:1] == ["simulate"] and words[1:2] and words[1] in _SIMULATED_APIS:
        return ["simulate-api", _SIMULATED_APIS[words[1]], *words[2:]]
    return words


def main(argv: Sequence[str] | None = None) -> int:
    words = canonical_words(list(sys.argv[1:] if argv is None else argv))
    command = next((w for w in words if not w.startswith("-")), None)
    args = build_parser(command).parse_args(words)
    try:
        code = int(args.func(args))
    except KeyboardInterrupt:
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())
