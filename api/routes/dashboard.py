"""The dashboard: a static page at `/` (HTML, ES modules, CSS, SVG from `api/dashboard/`).

No templating and nothing fetched from elsewhere: the page calls this API from the browser. One
module is generated rather than stored: `districts.js`, the district list of models/districts.py.
The files are served by name from a list made at import time (no paths from the request reach
the file system), kept out of the OpenAPI document, and sent with a Content-Security-Policy that
allows this origin only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from models.districts import DISTRICTS, LABEL_POINTS

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# Same origin only: the page runs no inline code and loads nothing from the internet; the live
# feed (EventSource) and the API calls are same-origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in sorted(directory.iterdir()) if p.is_file() and p.suffix in MEDIA_TYPES}


FILES = _files(DASHBOARD_DIR)

# A module generated from the one district list, so the page's scripts do not repeat it.
_LABELS = [{"name": d, "lat": LABEL_POINTS[d][0], "lon": LABEL_POINTS[d][1]} for d in DISTRICTS]
GENERATED = {
    "districts.js": f"export const DISTRICTS = {orjson.dumps(list(DISTRICTS)).decode()};\n"
                    f"export const DISTRICT_LABELS = {orjson.dumps(_LABELS).decode()};\n",
}

router = APIRouter(include_in_schema=False)


def _send(name: str) -> Response:
    if name in GENERATED:
        return Response(GENERATED[name], media_type=MEDIA_TYPES[".js"], headers=HEADERS)
    path = FILES.get(name)
    if path is None:
        raise HTTPException(404, "no such dashboard file")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard_page() -> Response:
    """The dashboard page."""
    return _send("index.html")


@router.api_route("/dashboard/{name}", methods=["GET", "HEAD"])
async def dashboard_file(
    name: Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9_-]+\.[a-z]+$")],
) -> Response:
    """A script, style sheet or image of the dashboard."""
    return _send(name)
