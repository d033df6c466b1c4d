"""Logging of every citysense process: plain text lines, or with CITYSENSE_LOG_FORMAT=json one JSON
object per line (python-json-logger) with the stable fields `time`, `level`, `logger`, `message`,
plus whatever context a call passes in `extra=` (e.g. `batch_size`, `sensor`, `topic`).

uvicorn's loggers (its access log included) are left without handlers of their own, so their lines
go through the same root handler and come out in the same format.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record attributes each JSON line starts with, renamed to the stable field names.
JSON_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            " ".join(f"%({k})s" for k in (*JSON_FIELDS, "message")),
            rename_fields=JSON_FIELDS, timestamp=False,
            # ISO-8601 with the offset, whatever the machine's zone
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(fmt: str = "text", level: str = "INFO") -> None:
    """Set up the root logger of this process (replacing any earlier set-up) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
