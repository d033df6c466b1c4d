"""`citysense decode --topic TOPIC [FILE]`: decode one payload exactly as ingest would.

The readings come from ingest.prepare.decoded (size limit, decode, derive: the first half of
prepare()) and are validated as a whole: one bad reading rejects the payload here, so the
user sees why, where ingest would store the good ones and dead-letter the rest."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from citysense.settings import load_settings
from ingest.errors import Rejected
from ingest.prepare import Inbound, decoded, prepare_config
from ingest.validation import require_valid
from models.metrics import unit_of


def main(topic: str, file: str | None) -> int:
    payload = Path(file).read_bytes() if file else sys.stdin.buffer.read()
    cfg = prepare_config(load_settings())
    now = datetime.now(UTC)
    try:
        readings = require_valid(decoded(Inbound(topic, payload, now), cfg), now, cfg.max_future)
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
