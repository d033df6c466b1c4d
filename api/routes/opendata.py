"""Open data in standard shapes: the DCAT-AP catalogue and the daily bulk files (docs/open-data.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api.answers.opendata import bulk_url, catalogue
from api.deps import Conn, OpenAccess, State
from api.opendata.bulkfiles import matches_etag
from api.opendata.bulkstore import find_file, list_files
from api.opendata.catalog import Publisher, serialize
from api.opendata.datasets import BY_ID
from api.schemas import BulkFileList, BulkFileOut, Problem

router = APIRouter(prefix="/api/v1/open", tags=["open data"])

_CATALOG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/ld+json": {"schema": {"type": "object"}},
                      "text/turtle": {"schema": {"type": "string"}}},
          "description": "DCAT-AP (3.0) catalogue: JSON-LD, or Turtle with `Accept: text/turtle`"},
}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/catalog",
    responses=_CATALOG_RESPONSES,
    summary="open data: the DCAT-AP catalogue",
    description="The open datasets (air quality, mobility counts, energy per district, bin fill) with licence "
                "(CC BY 4.0), publisher, temporal and spatial coverage and update frequency; their distributions "
                "are the open aggregates API, the SensorThings API and the daily bulk files. For harvesting by "
                "data portals (DCAT-AP, DCAT-AP-VL).",
)
async def catalog(
    request: Request, _access: OpenAccess, state: State, conn: Conn,
    accept: Annotated[str, Header(description="`text/turtle` for Turtle; JSON-LD otherwise")] = "",
) -> Response:
    cfg = state.settings
    graph = await catalogue(conn, _base(request), Publisher(cfg.open_publisher_name, cfg.open_publisher_url),
                            cfg.open_bulk_dir)
    turtle = "text/turtle" in accept
    # rdflib is pure Python (~0.1-0.3 s for this graph): off the event loop.
    body = await asyncio.to_thread(serialize, graph, turtle)
    return Response(body,
                    media_type="text/turtle; charset=utf-8" if turtle else "application/ld+json")


@router.get(
    "/bulk",
    response_model=BulkFileList,
    summary="open data: the daily bulk files",
    description="Every bulk file: one gzip CSV per dataset and local day, built by `citysense open-data build`.",
)
async def bulk_index(
    request: Request, _access: OpenAccess, state: State,
    dataset: Annotated[str | None, Query(description=f"only this dataset: one of {', '.join(BY_ID)}")] = None,
) -> BulkFileList:
    if dataset is not None and dataset not in BY_ID:
        raise HTTPException(400, f"unknown dataset {dataset!r}; one of {', '.join(BY_ID)}")
    base = _base(request)
    return BulkFileList(data=[
        BulkFileOut(dataset=f.dataset, day=f.day, url=bulk_url(base, f.dataset, f.name), bytes=f.size,
                    modified=f.modified, etag=f.etag)
        for f in list_files(state.settings.open_bulk_dir) if dataset in (None, f.dataset)
    ])


@router.get(
    "/bulk/{dataset}/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}, "description": "the gzip CSV"},
               304: {"description": "If-None-Match named the current ETag"},
               404: {"model": Problem, "description": "no such file"}},
    summary="open data: one bulk file",
    description="A day's open aggregates of one dataset as gzip CSV (columns in docs/open-data.md), with an ETag; "
                "`If-None-Match` with it gets 304 while the file is unchanged.",
)
async def bulk_file(
    _access: OpenAccess, state: State,
    dataset: Annotated[str, PathParam(description=f"one of {', '.join(BY_ID)}", examples=["air-quality"])],
    name: Annotated[str, PathParam(description="`<dataset>-<YYYY-MM-DD>.csv.gz`",
                                   examples=["air-quality-2026-11-30.csv.gz"])],
    if_none_match: Annotated[str | None, Header(description="an ETag this file was served with")] = None,
) -> Response:
    f = find_file(state.settings.open_bulk_dir, dataset, name)
    if f is None:
        raise HTTPException(404, f"no bulk file {dataset}/{name}")
    headers = {"ETag": f.etag, "Cache-Control": "public, max-age=3600"}
    if matches_etag(if_none_match, f.etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(f.path, media_type="application/gzip", filename=f.name, headers=headers)
