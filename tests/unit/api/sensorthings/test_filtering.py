"""$filter: parsing into predicates, the exact 400 messages, and evaluation against plain Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from api.sensorthings.errors import BadOption
from api.sensorthings.filtering import And, Compare, Not, Op, Or, Type, matches, parse_filter

SCHEMA = {("name",): Type.TEXT, ("id",): Type.TEXT, ("Thing", "name"): Type.TEXT, ("result",): Type.NUMBER,
          ("phenomenonTime",): Type.TIME}
T0 = datetime(2026, 3, 29, 1, tzinfo=UTC)


def parse(text: str) -> object:
    return parse_filter(text, SCHEMA, "Things")


def test_comparisons_paths_and_logic() -> None:
    assert parse("Thing/name eq 'a'") == Compare(("Thing", "name"), Op.EQ, "a")
    assert parse("result gt 3.5 and not (result le 1)") == And(
        Compare(("result",), Op.GT, 3.5), Not(Compare(("result",), Op.LE, 1.0))
    )
    assert parse("name eq 'x' or name ne null") == Or(Compare(("name",), Op.EQ, "x"), Compare(("name",), Op.NE, None))


def test_literal_on_the_left_is_flipped_and_times_are_utc() -> None:
    assert parse("2026-03-29T03:00:00+02:00 le phenomenonTime") == Compare(("phenomenonTime",), Op.GE, T0)


def test_iot_id_and_quotes() -> None:
    assert parse("@iot.id eq 'it''s @iot.id'") == Compare(("id",), Op.EQ, "it's @iot.id")


@pytest.mark.parametrize(("text", "message"), [
    ("", "$filter: empty expression"),
    ("name eq", "$filter: syntax error at character 5 (' ')"),
    ("colour eq 'red'", "$filter: Things have no property 'colour'; filterable: name, id, Thing/name, result, "
                        "phenomenonTime"),
    ("result eq 'high'", "$filter: result is a number, compared with a text"),
    ("phenomenonTime gt 3", "$filter: phenomenonTime is a time, compared with a number"),
    ("phenomenonTime gt 2026-03-29", "$filter: 2026-03-29 is a date; compare times with a full time, "
                                     "e.g. 2026-03-29T00:00:00Z"),
    ("result gt null", "$filter: null can only be compared with eq or ne (result)"),
    ("result add 1 gt 2", "$filter: compare a property with a literal; use comparisons (eq, ne, gt, ge, lt, le) "
                          "of a property with a literal, joined by and, or, not"),
    ("result in (1, 2)", "$filter: Compare is not supported; use comparisons (eq, ne, gt, ge, lt, le) of a "
                         "property with a literal, joined by and, or, not"),
    ("name eq result", "$filter: compare a property with a literal; use comparisons (eq, ne, gt, ge, lt, le) "
                       "of a property with a literal, joined by and, or, not"),
])
def test_bad_filters_say_why(text: str, message: str) -> None:
    with pytest.raises(BadOption) as exc:
        parse(text)
    assert str(exc.value) == message


def test_unknown_function_is_refused() -> None:
    with pytest.raises(BadOption, match="Unknown function: 'substringof'"):
        parse("substringof('a', name)")


def test_evaluation_agrees_with_python() -> None:
    rng = random.Random(3)
    rows = [{("result",): rng.uniform(0, 10), ("phenomenonTime",): T0 + timedelta(minutes=rng.randrange(600)),
             ("name",): rng.choice(["a", "b", None])} for _ in range(500)]
    pred = parse("(result ge 2.5 and result lt 7) or not (phenomenonTime lt 2026-03-29T05:00:00Z) "
                 "and name eq null")
    want = [r for r in rows if (2.5 <= r[("result",)] < 7)  # type: ignore[operator]
            or (r[("phenomenonTime",)] >= T0 + timedelta(hours=4) and r[("name",)] is None)]  # type: ignore[operator]
    assert [r for r in rows if matches(pred, r)] == want  # type: ignore[arg-type]
    assert matches(parse("name ne 'a'"), {})  # absent is null, and null ne 'a'
    assert not matches(parse("result gt 1"), {})
