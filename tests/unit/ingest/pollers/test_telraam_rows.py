from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ingest.decoders.base import DecodeContext
from ingest.decoders.telraam import decode
from ingest.pollers.telraam_rows import AnswerError, last_hour, messages, report_rows, request_body

PAYLOADS = Path(__file__).resolve().parents[3] / "fixtures" / "payloads"
FIXTURE = PAYLOADS / "telraam__api-v1-reports-traffic-segment348917-leuven.json"


def test_each_row_goes_out_unchanged_as_a_one_row_report_the_decoder_reads() -> None:
    rows = report_rows(FIXTURE.read_bytes())
    out = messages("348917", rows)
    assert [m.topic for m in out] == ["telraam/348917/traffic"] * len(rows)
    assert [orjson.loads(m.payload)["report"] for m in out] == [[r] for r in rows]
    ctx = DecodeContext(received_at=datetime(2020, 11, 1, tzinfo=UTC))
    decoded = [r for m in out for r in decode(m.topic, m.payload, ctx)]
    whole = decode("telraam/348917/traffic", FIXTURE.read_bytes(), ctx)
    assert sorted(decoded) == sorted(whole)  # splitting changes nothing ingest stores


def test_last_hour_of_the_rows() -> None:
    rows = report_rows(FIXTURE.read_bytes())
    assert last_hour(rows) == datetime(2020, 10, 30, 8, tzinfo=UTC)
    assert last_hour([{"date": "garbage"}, 3]) is None


@pytest.mark.parametrize("body", [b"<html>502</html>", b'{"message":"Forbidden"}', b"[]"])
def test_an_answer_without_a_report_is_an_error(body: bytes) -> None:
    with pytest.raises(AnswerError):
        report_rows(body)


def test_request_body_is_the_documented_one() -> None:
    assert orjson.loads(request_body("348917", "2026-11-01 00:00:00Z", "2026-11-02 00:00:00Z")) == {
        "level": "segments", "format": "per-hour", "id": "348917",
        "time_start": "2026-11-01 00:00:00Z", "time_end": "2026-11-02 00:00:00Z"}
