"""The dashboard takes the district list from the server, never from a copy of its own."""

from __future__ import annotations

import orjson
import pytest

from api.routes.dashboard import DASHBOARD_DIR, FILES, _send, config_module, csp
from citysense.settings import tile_origin
from models.districts import DISTRICTS, LABEL_POINTS


def test_districts_module_is_generated_from_the_one_list() -> None:
    body = bytes(_send("districts.js").body).decode()
    assert body.startswith("export const DISTRICTS = ")
    assert [d for d in DISTRICTS if f'"{d}"' in body] == list(DISTRICTS)
    assert set(LABEL_POINTS) == set(DISTRICTS)


def test_no_dashboard_file_writes_the_districts_out() -> None:
    # "Leuven" is also the city's name (the page's title); the other four are districts only.
    others = [d for d in DISTRICTS if d != "Leuven"]
    written = {p.name: [d for d in others if d in p.read_text()] for p in DASHBOARD_DIR.iterdir()
               if p.is_file() and p.suffix != ".png"}
    assert {name: found for name, found in written.items() if found} == {}


def test_csp_allows_images_from_exactly_the_tile_origin() -> None:
    origin = tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    assert origin == "https://tile.openstreetmap.org"
    policy = dict(part.strip().split(" ", 1) for part in csp(origin).split(";"))
    assert policy["img-src"].split() == ["'self'", "data:", "https://tile.openstreetmap.org"]
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert "tile" not in csp(None)


@pytest.mark.parametrize(("template", "origin"), [
    ("", None),
    ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
    ("https://geo.api.vlaanderen.be/GRB/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=grb_bsk&STYLE="
     "&FORMAT=image/png&TILEMATRIXSET=GoogleMapsVL&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
     "https://geo.api.vlaanderen.be"),
])
def test_tile_origin(template: str, origin: str | None) -> None:
    assert tile_origin(template) == origin


@pytest.mark.parametrize("template", [
    "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",  # several origins: the CSP could not name them
    "ftp://tiles.example/{z}/{x}/{y}.png",
    "https://tiles.example/{z}/{x}.png",
    "/tiles/{z}/{x}/{y}.png",
])
def test_tile_templates_refused(template: str) -> None:
    with pytest.raises(ValueError, match="tile URL template"):
        tile_origin(template)


def test_config_module_names_the_tile_source() -> None:
    body = config_module("https://tiles.example/{z}/{x}/{y}.png", "© Example")
    assert body.startswith("export const MAP_CONFIG = ")
    assert orjson.loads(body.split("=", 1)[1].strip().rstrip(";")) == {
        "tiles": "https://tiles.example/{z}/{x}/{y}.png", "attribution": "© Example"}


def test_leaflet_is_vendored_with_its_licence() -> None:
    for name in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/images/layers.png",
                 "vendor/leaflet/images/marker-icon.png"):
        assert name in FILES, name
    assert "BSD 2-Clause" in (DASHBOARD_DIR / "vendor/leaflet/LICENSE").read_text()
    assert "Leaflet 1.9." in (DASHBOARD_DIR / "vendor/leaflet/leaflet.js").read_text()[:200]
