"""Bulk file names, bytes and ETags; the datasets; the default build range."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta

from rdflib import namespace as rdfns

from api.opendata.bulkfiles import COLUMNS, BulkRow, file_etag, file_name, matches_etag, parse_file_name, render_csv
from api.opendata.catalog import LISTED_DAYS, BulkFile, Publisher, catalog_graph, city_bbox
from api.opendata.command import default_range
from api.opendata.datasets import DATASETS
from models.districts import CENTRES
from models.metrics import METRICS


def test_names_round_trip_and_refuse_anything_else() -> None:
    assert parse_file_name(file_name("air-quality", date(2026, 10, 25))) == ("air-quality", date(2026, 10, 25))
    for bad in ("air-quality-2026-13-01.csv.gz", "../x-2026-01-01.csv.gz", "air-quality-2026-01-01.csv", ""):
        assert parse_file_name(bad) is None


def test_csv_is_deterministic_and_shaped_like_the_open_endpoint() -> None:
    rows = [BulkRow("pm25", "avg", "hour", "district", datetime(2026, 10, 25, 2, tzinfo=UTC), "Leuven", 0.1 + 0.2, 3,
                    0.75),
            BulkRow("pm25", "avg", "day", "sensor", datetime(2026, 10, 25, tzinfo=UTC), None, None, 0, None)]
    content = render_csv(rows)
    assert content == render_csv(rows)  # no timestamp in the gzip header
    text = gzip.decompress(content).decode()
    assert text.splitlines() == [
        ",".join(COLUMNS),
        "pm25,avg,hour,district,2026-10-25T02:00:00+00:00,Leuven,0.30000000000000004,3,0.75",
        "pm25,avg,day,sensor,2026-10-25T00:00:00+00:00,,,0,",
    ]


def test_etags() -> None:
    tag = file_etag(1234, 10**18)
    assert tag[0] == tag[-1] == '"'
    assert file_etag(1235, 10**18) != tag
    assert matches_etag(f'"x", W/{tag}', tag)
    assert matches_etag("*", tag)
    assert not matches_etag('"x"', tag)
    assert not matches_etag(None, tag)


def test_datasets_cover_each_kind_once_with_fitting_aggregates() -> None:
    assert len({d.kind for d in DATASETS}) == len(DATASETS)
    for d in DATASETS:
        for metric, agg in d.metrics:
            assert (agg.value == "increase") == METRICS[metric].cumulative


def test_default_range_reaches_back_over_the_late_window() -> None:
    assert default_range(date(2026, 12, 2), 48) == (date(2026, 11, 30), date(2026, 12, 1))
    assert default_range(date(2026, 12, 2), 1) == (date(2026, 12, 1), date(2026, 12, 1))


def test_city_bbox_holds_every_district_centre() -> None:
    x0, y0, x1, y1 = city_bbox()
    assert all(x0 < lon < x1 and y0 < lat < y1 for lat, lon in CENTRES.values())


def test_catalogue_lists_the_recent_files_and_the_index() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    files = [BulkFile("energy", date(2026, 1, 1) + timedelta(days=i), f"http://x/e-{i}.csv.gz", 10, t)
             for i in range(LISTED_DAYS + 9)]
    g = catalog_graph("http://x", Publisher("p", "http://p"), DATASETS, {}, files)
    downloads = sorted(str(o) for o in g.objects(None, rdfns.DCAT.downloadURL))
    assert downloads == sorted(f.url for f in files[-LISTED_DAYS:])
    access = {str(o) for o in g.objects(None, rdfns.DCAT.accessURL)}
    assert "http://x/api/v1/open/bulk?dataset=energy" in access
