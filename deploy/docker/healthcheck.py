#!/usr/bin/env python3
"""Container health checks for the citysense image (installed as /usr/local/bin/citysense-healthcheck).

    citysense-healthcheck api [PORT]       GET http://127.0.0.1:PORT/health answers 200 (the database answers)
    citysense-healthcheck ingest [PORT]    /metrics on PORT says citysense_ingest_connected 1 (MQTT session up)
    citysense-healthcheck mqtt             an MQTT CONNECT with CITYSENSE_MQTT_URL's credentials is accepted

Exit 0 when healthy, 1 otherwise, with a one-line reason (Docker keeps it in `docker inspect`).
Only the standard library and paho-mqtt (a citysense dependency); no curl in a slim image.
The ingest check reads the metrics endpoint from inside the container, so it works while
ingest binds it to 127.0.0.1; CITYSENSE_INGEST_METRICS_PORT=0 (no endpoint) makes it fail.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def check_api(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=TIMEOUT_S) as r:
            return None if r.status == 200 else f"/health answered {r.status}"
    except urllib.error.HTTPError as exc:
        return f"/health answered {exc.code}"
    except OSError as exc:
        return f"/health unreachable: {exc}"


def check_ingest(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT_S) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"metrics endpoint on port {port} unreachable: {exc}"
    for line in text.splitlines():
        if line.startswith("citysense_ingest_connected "):
            value = float(line.split()[1])
            return None if value == 1.0 else "not connected to the MQTT broker"
    return "citysense_ingest_connected missing from /metrics"


def check_mqtt() -> str | None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from citysense.settings import load_settings

    ep = load_settings().mqtt
    result: dict[str, str | None] = {}

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        result["r"] = f"broker refused the connection: {reason}" if reason.is_failure else None  # type: ignore[attr-defined]

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"healthcheck-{os.getpid()}-{time.time_ns()}",
                         protocol=mqtt.MQTTv5)
    if ep.username:
        client.username_pw_set(ep.username, ep.password)
    if ep.tls:
        import ssl

        client.tls_set_context(ssl.create_default_context())
    client.on_connect = on_connect
    try:
        client.connect(ep.host, ep.port, keepalive=10)
        deadline = time.monotonic() + TIMEOUT_S
        while "r" not in result and time.monotonic() < deadline:
            client.loop(timeout=0.1)
    except OSError as exc:
        return f"broker {ep.host}:{ep.port} unreachable: {exc}"
    finally:
        client.disconnect()
    return result.get("r", "no CONNACK from the broker")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("api", "ingest", "mqtt"):
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[0]
    if mode == "api":
        problem = check_api(int(argv[1]) if len(argv) > 1 else 8000)
    elif mode == "ingest":
        default = int(os.environ.get("CITYSENSE_INGEST_METRICS_PORT", "9108"))
        problem = check_ingest(int(argv[1]) if len(argv) > 1 else default)
    else:
        problem = check_mqtt()
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
