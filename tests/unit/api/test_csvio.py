from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from api.csvio import EXCEL_NL, PLAIN, parse_fleet, render_aggregates, render_table


def test_render_aggregates() -> None:
    t = datetime(2026, 3, 29, tzinfo=UTC)
    text = render_aggregates([(t, "Kessel-Lo", 1.5, 3), (t, None, None, 0), (t, 'a,"b"', 0.1, 1)])
    assert text.splitlines() == [
        "bucket,group,value,count",
        "2026-03-29T00:00:00+00:00,Kessel-Lo,1.5,3",
        "2026-03-29T00:00:00+00:00,,,0",
        '2026-03-29T00:00:00+00:00,"a,""b""",0.1,1',
    ]


def test_parse_fleet() -> None:
    rows = parse_fleet(
        "id,kind,district,lat,lon,private,depth_mm,installed,metadata\n"
        'bin:1,bin,Leuven,50.88,4.70,,1200,2024-05-01,"{""owner"": ""city""}"\n'
        "\n"
        "p1:home,energy,Heverlee,,,true,,,\n"
    )
    assert rows[0] == {"id": "bin:1", "kind": "bin", "model": None, "district": "Leuven", "lat": 50.88, "lon": 4.70,
                       "private": False, "metadata": {"owner": "city", "depth_mm": 1200, "installed": "2024-05-01"},
                       "_line": 2}
    assert rows[1]["private"] is True
    assert rows[1]["metadata"] == {}
    assert rows[1]["lat"] is None
    assert rows[1]["_line"] == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty CSV"),
        ("kind,district\nbin,Leuven\n", "no id column"),
        ("id,id\na:1,a:2\n", "repeated"),
        ("id,lat\na:1,north\n", "line 2: lat must be a number"),
        ("id,private\na:1,maybe\n", "line 2: private"),
        ("id,kind\na:1,bin\na:1,bin\n", "line 3: sensor 'a:1' appears twice"),
        ("id,kind\na:1\n", "line 2: 1 cells"),
        ("id,metadata\na:1,[1]\n", "JSON object"),
        ("id,metadata\na:1,{\n", "not JSON"),
        ('id,kind\n"a:1,bin\n', "line"),
    ],
)
def test_parse_fleet_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fleet(text)


def test_render_table_plain_and_excel_nl() -> None:
    rows = [{"day": date(2026, 11, 23), "district": "Kessel-Lo", "kwh": 12.5, "n": 3, "ok": True},
            {"day": date(2026, 11, 24), "district": None, "kwh": -1.40285674278368e-16, "n": 0, "ok": False},
            {"day": date(2026, 11, 25), "district": 'a;b,"c"', "kwh": float("nan"), "n": 1, "ok": None}]
    cols = ("day", "district", "kwh", "n", "ok")
    assert render_table(cols, rows, PLAIN).split("\r\n") == [
        "day,district,kwh,n,ok",
        "2026-11-23,Kessel-Lo,12.5,3,true",
        "2026-11-24,,-0.000000000000000140285674278368,0,false",
        '2026-11-25,"a;b,""c""",,1,',
        "",
    ]
    nl = render_table(cols, rows, EXCEL_NL)
    assert nl.startswith("\ufeff")
    assert nl[1:].split("\r\n") == [
        "day;district;kwh;n;ok",
        "2026-11-23;Kessel-Lo;12,5;3;true",
        "2026-11-24;;-0,000000000000000140285674278368;0;false",
        '2026-11-25;"a;b,""c""";;1;',
        "",
    ]
    # Read back with the same dialect, every value is there.
    back = list(csv.reader(io.StringIO(nl[1:]), delimiter=";"))
    assert [float(r[2].replace(",", ".")) for r in back[1:3]] == [12.5, -1.40285674278368e-16]
