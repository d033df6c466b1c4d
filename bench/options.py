"""`citysense bench` options (imported by citysense.cli only when the bench runs)."""

from __future__ import annotations

import argparse

STAGES = ("ceiling", "naive", "ingest1", "replicas", "latency", "writer", "clients", "sta")
# "clients" (other MQTT clients' receive ceilings) and "sta" (SensorThings paging, bench/api_sensorthings.py)
# only when asked for.
DEFAULT_STAGES = STAGES[:6]
CLIENTS = ("paho-buffered", "paho-batched", "gmqtt", "gmqtt-uvloop")
FULL = {"messages": 500_000, "live_messages": 250_000, "backlog": 1_000_000, "naive_messages": 20_000,
        "paced_seconds": 20.0, "writer_batches": 30}
QUICK = {"messages": 20_000, "live_messages": 20_000, "backlog": 20_000, "naive_messages": 2_000,
         "paced_seconds": 3.0, "writer_batches": 4}


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _stages(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return chosen


def _clients(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = sorted(set(chosen) - set(CLIENTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    return chosen


def add_bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="small sizes for CI (20,000 messages, a few seconds per stage, targets not judged)")
    p.add_argument("--messages", type=_positive, metavar="N",
                   help="messages of the receive ceiling and the scale-out backlog drain (default 500,000; quick "
                        "20,000)")
    p.add_argument("--live-messages", type=_positive, metavar="N",
                   help="messages for the live stages, ingest running while they are published (default 250,000; "
                        "quick 20,000)")
    p.add_argument("--backlog", type=_positive, metavar="N",
                   help="backlog drained by one ingest replica, with its peak RSS (default 1,000,000; quick: "
                        "--messages)")
    p.add_argument("--replicas", type=_positive, default=2, metavar="N",
                   help="ingest replicas on a shared subscription for the scale-out stages (default 2)")
    p.add_argument("--naive-messages", type=_positive, metavar="N",
                   help="messages for the naive INSERT-per-message baseline (default 20,000; quick 2,000)")
    p.add_argument("--paced-seconds", type=float, metavar="S",
                   help="length of the half-rate latency stage (default 20; quick 3)")
    p.add_argument("--publishers", type=_positive, default=1, metavar="N",
                   help="publisher processes (raw-socket MQTT v5 QoS 1; one does >100k msg/s)")
    p.add_argument("--sensors", type=_positive, default=400, metavar="N",
                   help="simulated sensors (clones of the default fleet) the messages come from")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--stages", type=_stages, default=DEFAULT_STAGES, metavar="LIST",
                   help=f"comma-separated subset of {','.join(STAGES)} (default: {','.join(DEFAULT_STAGES)}); "
                        "clients: the receive ceiling (orjson, --messages) of other MQTT clients, see --clients; "
                        "sta: paging through a year of one SensorThings Datastream, 1,000 Observations a page "
                        "(alone, it runs without broker or message set)")
    p.add_argument("--clients", type=_clients, default=CLIENTS, metavar="LIST",
                   help=f"for the clients stage, a comma-separated subset of {','.join(CLIENTS)} (default: all); "
                        "paho-buffered: paho on a socket read 256 KiB at a time; paho-batched: that, driven by "
                        "the bench's own loop, PUBACKs of a burst in one send(); gmqtt (asyncio, or uvloop): acked "
                        "when the on_message coroutine returns; skipped, with a note, when not installed")
    p.add_argument("--rounds", type=_positive, default=1, metavar="N",
                   help="run each orjson receive ceiling (paho and the clients) N times, interleaved, and report "
                        "the median with every round: the spread shows the machine's noise (default 1)")
    p.add_argument("--broker-max-packet-size", type=_positive, metavar="BYTES",
                   help="override max_packet_size of the shipped Mosquitto config for the private broker "
                        "(default: as shipped, 262144)")
    p.add_argument("--api", action="store_true",
                   help="also run the API benchmarks: latency (bench/api_latency.py), live feed (bench/api_live.py) "
                        "and HTTP push (bench/api_push.py)")
    p.add_argument("--keep", action="store_true",
                   help="keep the bench databases (one per stage) and the work directory with the logs")
