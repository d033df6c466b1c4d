from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.csvio import parse_fleet, render_aggregates


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
