"""The receive ceiling: how fast a bare MQTT client (paho in several ways, gmqtt) takes and
acknowledges the backlog, with no database behind it; the `clients` stage compares them."""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

from bench.broker import client, connect_props
from bench.consumers import ConsumerJob
from bench.harness import SESSION_EXPIRY_S, STALL_S, Bench, published, rates, run_consumer
from citysense.endpoints import MqttEndpoint

# The receive ceiling's consumers: stage key, and how it takes and acknowledges a message.
CEILINGS: dict[str, tuple[str, str]] = {
    "json": ("receive_ceiling_json", "paho-mqtt 2, manual_ack=True, ack() after parsing; parse: orjson.loads"),
    "decoders": ("receive_ceiling_decoders", "paho-mqtt 2, manual_ack=True, ack() after parsing; parse: ingest's "
                                             "decoder registry"),
    "paho-buffered": ("receive_ceiling_paho_buffered",
                      "paho-mqtt 2, manual_ack=True, ack() after parsing, its socket wrapped so one recv() of "
                      "256 KiB serves many packets; parse: orjson.loads"),
    "paho-batched": ("receive_ceiling_paho_batched",
                     "paho-mqtt 2, manual_ack=True, ack() after parsing, without paho's thread: the bench's loop "
                     "calls loop_read() for every packet of one 256 KiB read, then sends the PUBACKs queued "
                     "meanwhile in one send(); parse: orjson.loads"),
    "gmqtt": ("receive_ceiling_gmqtt",
              "gmqtt (asyncio event loop), optimistic_acknowledgement=False: a coroutine on_message parses and "
              "returns 0, gmqtt sends the PUBACK when it has returned; parse: orjson.loads"),
    "gmqtt-uvloop": ("receive_ceiling_gmqtt_uvloop",
                     "gmqtt on uvloop, optimistic_acknowledgement=False (PUBACK when the coroutine on_message "
                     "has returned); parse: orjson.loads"),
}
_NEEDS = {"gmqtt": ("gmqtt",), "gmqtt-uvloop": ("gmqtt", "uvloop")}


def _missing(kind: str) -> list[str]:
    return [m for m in _NEEDS.get(kind, ()) if importlib.util.find_spec(m) is None]


def _broker_gone(b: Bench, client_id: str) -> int:
    """Lines of the private broker's log saying `client_id`'s connection ended (0 without one)."""
    if b.broker is None:
        return 0
    return sum(b.broker.log_count(f"Client {client_id} {how}")
               for how in ("disconnected", "closed its connection", "has exceeded timeout"))


def _wait_broker_caught_up(b: Bench, client_id: str, before: int, timeout: float = 60.0) -> float | None:
    """Seconds until the broker has handled the end of the consumer's connection, and so every PUBACK
    sent before it: Mosquitto can be most of a second behind on them after a fast drain, and resuming the
    session earlier takes it over, the PUBACKs still unread then counting as never sent. None when it did
    not happen within the timeout, or when there is no private broker's log to watch (then a fixed 5 s)."""
    t0 = time.monotonic()
    if b.broker is None:
        time.sleep(5)
        return None
    while _broker_gone(b, client_id) <= before:
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.1)
    return round(time.monotonic() - t0, 2)


def _unacknowledged(ep: MqttEndpoint, client_id: str, quiet_s: float = 1.0) -> int:
    """Messages the broker still holds for the session (sent and not acknowledged, or never sent):
    it sends them all to a client that resumes the session with a large Receive Maximum."""
    got: list[int] = []
    c = client(ep, client_id, manual_ack=True)
    c.on_message = lambda _c, _u, msg: got.append(msg.mid)
    c.connect(ep.host, ep.port, keepalive=60, clean_start=False, properties=connect_props(SESSION_EXPIRY_S, 65535))
    c.loop_start()
    try:
        seen, since = -1, time.monotonic()
        while time.monotonic() - since < quiet_s:
            time.sleep(0.1)
            if len(got) != seen:
                seen, since = len(got), time.monotonic()
    finally:
        c.disconnect()
        c.loop_stop()
    return len(got)


def stage_ceiling(b: Bench, kind: str, n: int) -> dict[str, Any]:
    missing = _missing(kind)
    if missing:
        return {"messages": n, "skipped": f"{' and '.join(missing)} not installed (pip install "
                                          f"{' '.join(missing)}, or the dev extra): not measured",
                "verification": {"ok": True, "skipped": True}}
    client_id = f"bench-ceiling-{b.run_id}-{kind}"
    subs = b.subscriptions()
    b.register(client_id, subs)
    gone = _broker_gone(b, client_id)
    load = [round(x, 2) for x in os.getloadavg()]
    try:
        pub = b.publish(n, f"ceiling-{kind}")
        b.say(f"  {n:,} messages queued ({pub.rate:,.0f} msg/s published); draining with a bare {kind} client")
        ep = b.ep
        result = run_consumer(ConsumerJob(
            kind, ep.host, ep.port, ep.tls, ep.username, ep.password, client_id, tuple(subs),
            b.settings.ingest_receive_maximum, SESSION_EXPIRY_S, n, STALL_S, b.settings.timezone))
        lag = _wait_broker_caught_up(b, client_id, gone) if not result.error else None
        left = _unacknowledged(ep, client_id) if not result.error else None
    finally:
        b.forget(client_id)
    readings = int(b.set.reading_off[n])
    out: dict[str, Any] = {
        "method": "backlog drain: CONNACK to the last message parsed and acknowledged; MQTT v5, Receive Maximum "
                  f"{b.settings.ingest_receive_maximum}, persistent session; " + CEILINGS[kind][1]
                  + "; verified: every message once, no reconnect, nothing left unacknowledged in the session",
        "publish": published(pub),
        "load_average_at_start": load,
    }
    if result.error or not result.done_at:
        return {**out, "messages": n, "error": result.error or "did not finish",
                "verification": {"ok": False, "received": result.received}}
    out.update(rates(n, readings, result.done_at - result.connected_at))
    out["cpu_us_per_msg"] = round(result.cpu_s / n * 1e6, 1)
    out["parse_failures"] = result.parse_errors
    out["broker_caught_up_s"] = lag  # after the consumer process ended: the broker's lag on the PUBACKs
    # Every message once, on one connection (a reconnect redelivers the unacknowledged ones, DUP,
    # and the count would reach n before every message was seen), and every one acknowledged: the
    # session holds nothing afterwards.
    out["verification"] = {"ok": result.received == n and result.redelivered == 0 and result.connections == 1
                                 and left == 0,
                           "received": result.received, "expected": n, "redelivered": result.redelivered,
                           "connections": result.connections, "left_unacknowledged": left}
    return out
