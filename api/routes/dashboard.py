"""The dashboard: a static page at `/` (HTML, ES modules, CSS, images from `api/dashboard/`).

No templating and no build step: the page calls this API from the browser, and Leaflet is vendored
in `api/dashboard/vendor/leaflet/`. Two modules are generated rather than stored: `districts.js`,
the district list of models/districts.py, and `config.js`, the map's tile source from the settings.
The files are served by name from a list made at import time (no paths from the request reach the
file system), kept out of the OpenAPI document, and sent with a Content-Security-Policy that allows
this origin only, and for images the tile source's origin too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from api.deps import State
from models.districts import CENTRES, DISTRICTS, LABEL_POINTS, MAX_KM_FROM_CENTRE

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def csp(tile_origin: str | None) -> str:
    """Same origin only, except map tiles from exactly their origin: the page runs no inline code; the
    live feed (EventSource) and the API calls are same-origin. Leaflet positions its panes through
    the CSSOM (element.style), which style-src does not govern."""
    images = "'self' data:" + (f" {tile_origin}" if tile_origin else "")
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
    )


def _headers(tile_origin: str | None) -> dict[str, str]:
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": csp(tile_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): p
        for p in sorted(directory.rglob("*")) if p.is_file() and p.suffix in MEDIA_TYPES
    }


FILES = _files(DASHBOARD_DIR)

# A module generated from the one district list, so the page's scripts do not repeat it.
_LABELS = [{"name": d, "lat": LABEL_POINTS[d][0], "lon": LABEL_POINTS[d][1]} for d in DISTRICTS]
_CENTRES = [{"name": d, "lat": CENTRES[d][0], "lon": CENTRES[d][1]} for d in DISTRICTS]
GENERATED = {
    "districts.js": f"export const DISTRICTS = {orjson.dumps(list(DISTRICTS)).decode()};\n"
                    f"export const DISTRICT_LABELS = {orjson.dumps(_LABELS).decode()};\n"
                    f"export const DISTRICT_CENTRES = {orjson.dumps(_CENTRES).decode()};\n"
                    f"export const MAX_KM_FROM_CENTRE = {MAX_KM_FROM_CENTRE};\n",
}


def config_module(tiles: str, attribution: str) -> str:
    """`config.js`: the map's tile source (CITYSENSE_MAP_TILES, CITYSENSE_MAP_ATTRIBUTION)."""
    cfg = {"tiles": tiles or None, "attribution": attribution}
    return f"export const MAP_CONFIG = {orjson.dumps(cfg).decode()};\n"


router = APIRouter(include_in_schema=False)


def _send(name: str, tile_origin: str | None = None) -> Response:
    if name in GENERATED:
        return Response(GENERATED[name], media_type=MEDIA_TYPES[".js"], headers=_headers(tile_origin))
    path = FILES.get(name)
    if path is None:
        raise HTTPException(404, "no such dashboard file")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=_headers(tile_origin))


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard_page(state: State) -> Response:
    """The dashboard page."""
    return _send("index.html", state.settings.map_tile_origin)


@router.api_route("/dashboard/config.js", methods=["GET", "HEAD"])
async def dashboard_config(state: State) -> Response:
    """The page's settings: the map's tile source."""
    s = state.settings
    return Response(config_module(s.map_tiles, s.map_attribution), media_type=MEDIA_TYPES[".js"],
                    headers=_headers(s.map_tile_origin))


@router.api_route("/dashboard/{name:path}", methods=["GET", "HEAD"])
async def dashboard_file(
    state: State,
    name: Annotated[str, PathParam(max_length=100, pattern=r"^([a-z0-9-]+/){0,3}[A-Za-z0-9_-]+\.[a-z]+$")],
) -> Response:
    """A script, style sheet or image of the dashboard."""
    return _send(name, state.settings.map_tile_origin)
