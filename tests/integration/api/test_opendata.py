"""Open data against a real API process and TimescaleDB: bulk files built by the real
`citysense open-data build` match `GET /api/v1/open/aggregates` row for row and are served with
ETags; the DCAT-AP catalogue (JSON-LD and Turtle) passes the DCAT-AP SHACL shapes."""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pyshacl
import pytest
from rdflib import Graph
from rdflib import namespace as rdfns
from rdflib.compare import isomorphic

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import BRUSSELS, Place, Row, api_process, store
from tests.integration.support import ROOT, ApiProcess

SHAPES = ROOT / "tests" / "fixtures" / "dcat_ap"
PLACES = {
    "od:a1": Place("Leuven", 50.879, 4.701, kind="air"),
    "od:a2": Place("Leuven", 50.881, 4.705, kind="air"),
    "od:a3": Place("Leuven", 50.878, 4.700, private=True, kind="air"),
    "od:a4": Place("Heverlee", 50.863, 4.698, kind="air"),  # alone in its district: its district rows are suppressed
    "od:m1": Place("Leuven", 50.880, 4.702, kind="mobility"),
    "od:m2": Place("Leuven", 50.882, 4.703, kind="mobility"),
    "od:m3": Place("Leuven", 50.877, 4.706, kind="mobility"),
    "od:e1": Place("Kessel-Lo", 50.888, 4.731, private=True, kind="energy"),
    "od:e2": Place("Kessel-Lo", 50.889, 4.732, private=True, kind="energy"),
    "od:e3": Place("Kessel-Lo", 50.890, 4.733, kind="energy"),
    "od:b1": Place("Leuven", 50.879, 4.700, kind="bin"),
    "od:b2": Place("Leuven", 50.880, 4.701, kind="bin"),
}
METRICS = {"air": ["pm25", "no2", "temperature"], "mobility": ["bikes", "cars", "speed_v85"],
           "energy": ["energy_import"], "bin": ["fill_level"]}
# Around the end of summer time in Brussels: 2026-10-25 lasts 25 hours.
FIRST, LAST = date(2026, 10, 24), date(2026, 10, 26)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).astimezone(UTC)


def generate(seed: int = 23) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    lo, hi = _midnight(FIRST) - timedelta(hours=3), _midnight(LAST + timedelta(days=1)) + timedelta(hours=2)
    for sensor, place in PLACES.items():
        assert place.kind is not None
        counter = rng.uniform(100, 1000)
        t = lo + timedelta(seconds=rng.randrange(0, 900))
        while t < hi:
            for metric in METRICS[place.kind]:
                if metric == "energy_import":
                    counter += rng.uniform(0, 0.5)
                    value = round(counter, 4)
                elif metric in ("bikes", "cars"):
                    value = float(rng.randrange(0, 40))
                elif metric == "fill_level":
                    value = round(rng.uniform(0, 100), 1)
                else:
                    value = round(rng.uniform(1, 60), 3)
                rows.append((sensor, metric, t, value))
            t += timedelta(seconds=rng.randrange(600, 1800), microseconds=rng.randrange(0, 10**6))
    return rows


@pytest.fixture
async def dataset(db: asyncpg.Connection, database_url: str) -> list[Row]:
    rows = generate()
    await store(database_url, db, rows, PLACES)
    return rows


@pytest.fixture
async def built(dataset: list[Row], database_url: str, tmp_path: Path) -> Path:
    out = tmp_path / "bulk"

    def build() -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "citysense.cli", "open-data", "build", "--from", FIRST.isoformat(),
             "--to", LAST.isoformat(), "--dir", str(out)],
            cwd=ROOT, env={**os.environ, "CITYSENSE_DATABASE_URL": database_url}, capture_output=True, text=True,
            timeout=300, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    lines = build()
    assert any(line.startswith("open-data: [1/4] air-quality 2026-10-24..2026-10-26: 3 file(s), 3 changed")
               for line in lines), lines
    assert lines[-1].startswith("open-data: done: 12 file(s)"), lines
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv.gz")}
    # Built again from the same data: the same bytes, so no file is rewritten and no ETag changes.
    assert build()[-1].startswith("open-data: done: 12 file(s) for 2026-10-24..2026-10-26 in ")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.csv.gz")} == stamps
    return out


@pytest.fixture
async def api(built: Path, database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path) -> AsyncIterator[ApiProcess]:
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_OPEN_BULK_DIR=str(built),
                         CITYSENSE_API_PUBLIC_RATE="")
    try:
        yield server
    finally:
        server.stop()


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(content).decode())))


async def test_bulk_files_match_the_open_endpoint_row_for_row(api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        index = (await http.get("/api/v1/open/bulk")).json()["data"]
        assert {(f["dataset"], f["day"]) for f in index} == {
            (d, (FIRST + timedelta(days=i)).isoformat())
            for d in ("air-quality", "mobility-counts", "energy", "bin-fill") for i in range(3)
        }
        kinds = {"air-quality": "air", "mobility-counts": "mobility", "energy": "energy", "bin-fill": "bin"}
        compared = suppressed = covered = 0
        for f in index:
            r = await http.get(f["url"])
            assert r.status_code == 200
            assert r.headers["etag"] == f["etag"]
            again = await http.get(f["url"], headers={"If-None-Match": f["etag"]})
            assert again.status_code == 304
            rows = _rows(r.content)
            assert not any(row["group"] in ("od:a3", "od:e1", "od:e2") for row in rows)  # private sensors
            by_query: dict[tuple[str, str, str, str], list[dict[str, str]]] = defaultdict(list)
            for row in rows:
                by_query[(row["metric"], row["agg"], row["resolution"], row["group_by"])].append(row)
            day = date.fromisoformat(f["day"])
            kind = kinds[f["dataset"]]
            aggs = {"energy_import": "increase", "bikes": "sum", "cars": "sum"}
            for metric in METRICS[kind]:
                agg = aggs.get(metric, "avg")
                for resolution, bucket in (("hour", "1h"), ("day", "day")):
                    for group_by in ("district", "sensor"):
                        answer = await http.get("/api/v1/open/aggregates", params={
                            "metric": metric, "agg": agg, "bucket": bucket, "group_by": group_by, "kind": kind,
                            "from": _midnight(day).isoformat(), "to": _midnight(day + timedelta(days=1)).isoformat(),
                            "coverage": "true",
                        })
                        assert answer.status_code == 200, answer.text
                        body = answer.json()
                        suppressed += body["suppressed"]
                        want = body["data"]
                        got = by_query.pop((metric, agg, resolution, group_by), [])
                        assert len(got) == len(want), (f["url"], metric, resolution, group_by)
                        # Two bins in one district: every district row of theirs is suppressed (k = 3).
                        assert bool(want) != (kind == "bin" and group_by == "district"), (metric, group_by)
                        for g, w in zip(got, want, strict=True):
                            assert datetime.fromisoformat(g["bucket"]) == datetime.fromisoformat(w["bucket"])
                            assert g["group"] == (w["group"] or "")
                            assert int(g["count"]) == w["count"]
                            assert math.isclose(float(g["value"]), w["value"], rel_tol=1e-12, abs_tol=1e-12)
                            if w["coverage"] is None:
                                assert g["coverage"] == ""
                            else:
                                assert math.isclose(float(g["coverage"]), w["coverage"], rel_tol=1e-12)
                                covered += 1
                            compared += 1
            assert not by_query, f"rows in {f['url']} the open endpoint was not asked for: {list(by_query)}"
        assert compared > 2000
        assert covered > 1000
        assert suppressed > 0  # Heverlee's single air sensor, and the district of two bins


async def test_catalogue_passes_the_dcat_ap_shapes(api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        jsonld = await http.get("/api/v1/open/catalog")
        turtle = await http.get("/api/v1/open/catalog", headers={"Accept": "text/turtle"})
        index = (await http.get("/api/v1/open/bulk")).json()["data"]
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    assert turtle.headers["content-type"].startswith("text/turtle")
    data = Graph().parse(data=jsonld.text, format="json-ld")
    assert isomorphic(data, Graph().parse(data=turtle.text, format="turtle"))
    shapes = Graph()
    for name in ("shapes.ttl", "range.ttl", "shapes_recommended.ttl"):
        shapes.parse(SHAPES / name, format="turtle")
    conforms, _, report = pyshacl.validate(data, shacl_graph=shapes, inference="none", allow_warnings=True)
    assert conforms, report
    # No warnings either (recommended properties), now that every dataset has data.
    strict, _, report = pyshacl.validate(data, shacl_graph=shapes, inference="none", allow_warnings=False)
    assert strict, report
    datasets = set(data.subjects(rdfns.RDF.type, rdfns.DCAT.Dataset))
    assert len(datasets) == 4
    downloads = {str(o) for o in data.objects(None, rdfns.DCAT.downloadURL)}
    assert downloads == {f["url"] for f in index}


async def test_unknown_bulk_files_are_404(api: ApiProcess) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        for path in ("air-quality/air-quality-1999-01-01.csv.gz", "air-quality/..%2F..%2Fetc%2Fpasswd",
                     "nope/nope-2026-10-24.csv.gz", "energy/air-quality-2026-10-24.csv.gz"):
            assert (await http.get(f"/api/v1/open/bulk/{path}")).status_code == 404, path
