"""CSV in and out. Pure."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

KNOWN_COLUMNS = ("id", "kind", "model", "district", "lat", "lon", "private", "metadata")
MAX_FLEET_ROWS = 100_000


def render_aggregates(rows: Iterable[tuple[datetime, str | None, float | None, int]],
                      coverage: Iterable[float | None] | None = None) -> str:
    """bucket,group,value,count with a header, and a coverage column when given; empty cells for null."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("bucket", "group", "value", "count", *(("coverage",) if coverage is not None else ())))
    covs = iter(coverage) if coverage is not None else None
    for bucket, group, value, count in rows:
        cells = [bucket.isoformat(), "" if group is None else group, "" if value is None else repr(value), count]
        if covs is not None:
            c = next(covs)
            cells.append("" if c is None else repr(c))
        w.writerow(cells)
    return out.getvalue()


@dataclass(frozen=True)
class CsvStyle:
    """How a table is written: the separator, the decimal mark, and whether a byte-order mark leads
    (Excel reads UTF-8 only with one)."""

    delimiter: str
    decimal: str
    bom: bool


# RFC 4180 as most tools read it; and what Excel in a Dutch (Belgian) locale opens with a double click.
PLAIN = CsvStyle(delimiter=",", decimal=".", bom=False)
EXCEL_NL = CsvStyle(delimiter=";", decimal=",", bom=True)


def _number(value: float, style: CsvStyle) -> str:
    if not math.isfinite(value):
        return ""
    text = repr(value)  # the shortest text that reads back as the same float
    if "e" in text:  # spreadsheets read plain digits everywhere, exponents not in every locale
        text = format(Decimal(text), "f")
    return text.replace(".", style.decimal)


def _cell(value: Any, style: CsvStyle) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value, style)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def render_table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], style: CsvStyle = PLAIN) -> str:
    """A header of `columns`, then one line per row (a mapping by column name); empty cells for null."""
    out = io.StringIO()
    if style.bom:
        out.write("\ufeff")
    w = csv.writer(out, delimiter=style.delimiter, lineterminator="\r\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row.get(c), style) for c in columns])
    return out.getvalue()


def _scalar(text: str) -> Any:
    """A metadata cell: a number or a boolean where it reads as one, else the text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        n = int(text)
    except ValueError:
        pass
    else:
        return n
    try:
        f = float(text)
    except ValueError:
        return text
    return f if math.isfinite(f) else text


def _bool(text: str, line: int) -> bool:
    low = text.strip().lower()
    if low in ("", "false", "0", "no"):
        return False
    if low in ("true", "1", "yes"):
        return True
    raise ValueError(f"line {line}: private must be true or false, not {text!r}")


def _float(text: str, name: str, line: int) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"line {line}: {name} must be a number, not {text!r}") from None


def parse_fleet(text: str) -> list[dict[str, Any]]:
    """Rows of a fleet CSV as dicts of SensorCreate fields (validation of values is the model's).

    Columns: id (required), kind, model, district, lat, lon, private, metadata (a JSON object);
    any other column becomes a metadata key (numbers and true/false typed, empty cells left out).
    """
    try:
        return _parse_fleet(text)
    except csv.Error as exc:
        raise ValueError(f"malformed CSV: {exc}") from None


def _parse_fleet(text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError("empty CSV: expected a header line with at least an id column") from None
    if "id" not in header:
        raise ValueError("the header has no id column")
    if len(set(header)) != len(header) or "" in header:
        raise ValueError("the header has empty or repeated column names")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"line {line}: {len(row)} cells, the header has {len(header)}")
        cells = dict(zip(header, row, strict=True))
        sensor_id = cells["id"].strip()
        if sensor_id in seen:
            raise ValueError(f"line {line}: sensor {sensor_id!r} appears twice")
        seen.add(sensor_id)
        metadata: dict[str, Any] = {}
        if cells.get("metadata", "").strip():
            try:
                parsed = orjson.loads(cells["metadata"])
            except orjson.JSONDecodeError:
                raise ValueError(f"line {line}: metadata is not JSON") from None
            if not isinstance(parsed, dict):
                raise ValueError(f"line {line}: metadata must be a JSON object")
            metadata.update(parsed)
        for name, value in cells.items():
            if name not in KNOWN_COLUMNS and value.strip():
                metadata[name] = _scalar(value.strip())
        out.append({
            "id": sensor_id,
            "kind": cells.get("kind", "").strip() or "unknown",
            "model": cells.get("model", "").strip() or None,
            "district": cells.get("district", "").strip() or None,
            "lat": _float(cells.get("lat", ""), "lat", line),
            "lon": _float(cells.get("lon", ""), "lon", line),
            "private": _bool(cells.get("private", ""), line),
            "metadata": metadata,
            "_line": line,
        })
        if len(out) > MAX_FLEET_ROWS:
            raise ValueError(f"more than {MAX_FLEET_ROWS} sensors in one import")
    return out
