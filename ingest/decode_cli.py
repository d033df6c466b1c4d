"""`citysense decode --topic TOPIC [FILE]`: decode one payload exactly as ingest would."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from citysense.settings import load_settings
from ingest.decoders.base import DecodeContext
from ingest.decoders.registry import decode
from ingest.derived import derive
from ingest.errors import Rejected
from ingest.validation import require_valid
from models.metrics import unit_of


def main(topic: str, file: str | None) -> int:
    payload = Path(file).read_bytes() if file else sys.stdin.buffer.read()
    settings = load_settings()
    now = datetime.now(UTC)
    ctx = DecodeContext(tz=settings.tz, received_at=now)
    if len(payload) > settings.ingest_max_payload_bytes:
        print(f"rejected: payload of {len(payload)} bytes exceeds the limit of "
              f"{settings.ingest_max_payload_bytes} bytes", file=sys.stderr)
        return 1
    try:
        readings = require_valid(derive(decode(topic, payload, ctx), ctx), now,
                                 timedelta(seconds=settings.ingest_max_future_s))
    except Rejected as exc:
        print(f"rejected ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    for r in readings:
        out.write(orjson.dumps({
            "sensor_id": r.sensor_id,
            "metric": r.metric,
            "value": r.value,
            "unit": unit_of(r.metric),
            "time": r.time.astimezone(UTC).isoformat().replace("+00:00", "Z") if r.time else None,
        }) + b"\n")
    return 0
