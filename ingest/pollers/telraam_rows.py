"""A Telraam traffic report answer → the MQTT messages ingest's Telraam decoder reads (pure).

Each row of `report` goes out unchanged as a one-row report on `telraam/<segment>/traffic`, the
shape the simulators publish: one hour per message keeps a message small (a 3-month window with
speed histograms is megabytes) and lets ingest dead-letter one bad hour without losing the rest.
The poller does not judge rows; the decoder does, with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from ingest.decoders.timeparse import from_iso
from ingest.errors import DecodeError

_UTC = ZoneInfo("UTC")


class AnswerError(ValueError):
    """An answer that is not a traffic report at all (an error page, a changed API)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes


def topic(segment: str) -> str:
    return f"telraam/{segment}/traffic"


def report_rows(body: bytes) -> list[object]:
    """The rows of an answer; AnswerError when it has no `report` array."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise AnswerError(f"answer is not JSON: {exc}") from None
    report = doc.get("report") if isinstance(doc, dict) else None
    if not isinstance(report, list):
        detail = doc.get("message") if isinstance(doc, dict) else None
        raise AnswerError(f"answer has no 'report' array ({detail!r})")
    return report


def messages(segment: str, rows: list[object]) -> list[Outgoing]:
    return [
        Outgoing(topic(segment), orjson.dumps({"status_code": 200, "message": "ok", "report": [row]}))
        for row in rows
    ]


def row_hour(row: object) -> datetime | None:
    """The interval start of a row, None when it has no readable `date` (ingest will say why)."""
    date = row.get("date") if isinstance(row, dict) else None
    if not isinstance(date, str):
        return None
    try:
        return from_iso(date, _UTC)
    except DecodeError:
        return None


def last_hour(rows: list[object]) -> datetime | None:
    hours = [h for h in map(row_hour, rows) if h is not None]
    return max(hours) if hours else None


def request_body(segment: str, time_start: str, time_end: str) -> bytes:
    return orjson.dumps({"level": "segments", "format": "per-hour", "id": segment,
                         "time_start": time_start, "time_end": time_end})
