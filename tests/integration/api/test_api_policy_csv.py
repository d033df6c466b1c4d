"""The policy reports as CSV (`format=csv`, and `format=csv-nl` for Excel in nl-BE) against the JSON
answer of the same request, on a backfilled fleet: the same rows, columns and values, read back with
the csv module in each dialect."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from citysense.endpoints import MqttEndpoint
from ingest.prepare import PrepareConfig
from simulators.backfill import backfill
from simulators.fleet import load_fleet
from simulators.testing import unique_fleet
from tests.integration.api.support import BRUSSELS, READ_KEY, api_process

READ = {"X-API-Key": READ_KEY}
PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))

# The list of each report that its CSV holds (docs/api.md).
REPORTS = {
    "mobility": "daily",
    "energy": "daily_by_district",
    "air-quality": "exceedances",
    "cleanliness": "collection_list",
}


def cell_value(text: str, like: Any, decimal: str) -> Any:
    """A CSV cell read back as the type of the JSON value beside it."""
    if text == "":
        return None
    if isinstance(like, bool):
        return {"true": True, "false": False}[text]
    if isinstance(like, int | float):
        return float(text.replace(decimal, ".")) if decimal != "." or "." in text or "e" in text else int(text)
    if isinstance(like, str) and "T" in like and like[:4].isdigit():
        return datetime.fromisoformat(text)
    return text


def json_value(value: Any) -> Any:
    if isinstance(value, str) and "T" in value and value[:4].isdigit():
        return datetime.fromisoformat(value)
    return value


def assert_same(text: str, rows: list[dict[str, Any]], delimiter: str, decimal: str) -> None:
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert rows, "the report must have rows for the comparison to mean something"
    header, body = table[0], table[1:]
    assert header == list(rows[0])
    assert len(body) == len(rows)
    for line, row in zip(body, rows, strict=True):
        for name, cell in zip(header, line, strict=True):
            want = json_value(row[name])
            got = cell_value(cell, row[name], decimal)
            if isinstance(want, float):
                assert got == pytest.approx(want, rel=0, abs=0), (name, cell, want)  # the exact float
            else:
                assert got == want, (name, cell, row[name])


@pytest.mark.parametrize("report", list(REPORTS))
async def test_policy_csv_is_the_json_answer(
    report: str, database_url: str, mqtt_endpoint: MqttEndpoint, unique: str, tmp_path: Path,
) -> None:
    fleet = unique_fleet(load_fleet(), unique)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    summary = await backfill(fleet, end - timedelta(days=3), end, 5, database_url, PREP)
    assert summary.rows > 0
    today = datetime.now(BRUSSELS).date()
    frm = datetime(*(today - timedelta(days=3)).timetuple()[:3], tzinfo=BRUSSELS)
    to = datetime(today.year, today.month, today.day, tzinfo=BRUSSELS)
    params: dict[str, str] = ({"at": end.isoformat()} if report == "cleanliness"
                              else {"from": frm.isoformat(), "to": to.isoformat()})
    server = api_process(database_url, mqtt_endpoint, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=READ, timeout=30) as http:
            url = f"/api/v1/policy/{report}"
            answer = (await http.get(url, params=params)).json()
            rows = answer[REPORTS[report]]

            plain = await http.get(url, params={**params, "format": "csv"})
            assert plain.status_code == 200
            assert plain.headers["content-type"] == "text/csv; charset=utf-8"
            assert plain.headers["content-disposition"].startswith(f'attachment; filename="citysense-{report}')
            assert not plain.text.startswith("\ufeff")
            assert_same(plain.text, rows, ",", ".")

            excel = await http.get(url, params={**params, "format": "csv-nl"})
            assert excel.status_code == 200
            assert excel.headers["content-disposition"].endswith('-nl.csv"')
            body = excel.content.decode("utf-8")
            assert body.startswith("\ufeff")  # Excel reads UTF-8 only with a byte-order mark
            assert_same(body[1:], rows, ";", ",")

            # Accept: text/csv chooses CSV too; a district filter applies to the CSV as to the JSON.
            accepted = await http.get(url, params=params, headers={"Accept": "text/csv"})
            assert accepted.text == plain.text
            leuven = (await http.get(url, params={**params, "district": "Leuven"})).json()[REPORTS[report]]
            if leuven:
                assert_same((await http.get(url, params={**params, "district": "Leuven", "format": "csv"})).text,
                            leuven, ",", ".")
            refused = await http.get(url, params={**params, "format": "xlsx"})
            assert refused.status_code == 422
    finally:
        server.stop()

