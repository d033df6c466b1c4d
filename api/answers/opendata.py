"""The open-data catalogue of this deployment: the datasets with their time span and bulk files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from rdflib import Graph

from api.opendata.bulkstore import list_files
from api.opendata.catalog import BulkFile, Coverage, Publisher, catalog_graph
from api.opendata.datasets import DATASETS
from api.queries import opendata as sql


def bulk_url(base: str, dataset: str, name: str) -> str:
    return f"{base}/api/v1/open/bulk/{dataset}/{name}"


async def catalogue(conn: asyncpg.Connection, base: str, publisher: Publisher, bulk_dir: Path) -> Graph:
    coverage = {}
    for ds in DATASETS:
        first, last = await sql.time_span(conn, ds.kind.value, [m for m, _ in ds.metrics])
        coverage[ds.id] = Coverage(first, last)
    files = [BulkFile(f.dataset, f.day, bulk_url(base, f.dataset, f.name), f.size, f.modified)
             for f in list_files(bulk_dir)]
    # rdflib is pure Python: building the graph (~0.1 s) runs off the event loop.
    return await asyncio.to_thread(catalog_graph, base, publisher, DATASETS, coverage, files)
