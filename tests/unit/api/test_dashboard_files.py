"""The dashboard takes the district list from the server, never from a copy of its own."""

from __future__ import annotations

from api.routes.dashboard import DASHBOARD_DIR, _send
from models.districts import DISTRICTS, LABEL_POINTS


def test_districts_module_is_generated_from_the_one_list() -> None:
    body = bytes(_send("districts.js").body).decode()
    assert body.startswith("export const DISTRICTS = ")
    assert [d for d in DISTRICTS if f'"{d}"' in body] == list(DISTRICTS)
    assert set(LABEL_POINTS) == set(DISTRICTS)


def test_no_dashboard_file_writes_the_districts_out() -> None:
    # "Leuven" is also the city's name (the page's title); the other four are districts only.
    others = [d for d in DISTRICTS if d != "Leuven"]
    written = {p.name: [d for d in others if d in p.read_text()] for p in DASHBOARD_DIR.iterdir() if p.is_file()}
    assert {name: found for name, found in written.items() if found} == {}
