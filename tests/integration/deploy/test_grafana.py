"""deploy/grafana/ without Grafana: every panel's and every template variable's SQL of the provisioned
dashboards, expanded as Grafana expands it (tests/integration/deploy/grafana_sql.py), runs against a real
TimescaleDB holding three backfilled days of the default fleet, logged in as the read-only role
citysense_grafana of migration 0008 with the password `citysense migrate` gave it. A panel whose SQL
fails, or whose chart would stay empty, fails the test; one panel is recomputed with numpy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import pytest
import yaml

from citysense.settings import Settings
from ingest.prepare import PrepareConfig
from simulators.backfill import backfill
from simulators.fleet import load_fleet
from tests.integration.conftest import SERVER_URL
from tests.integration.deploy.grafana_sql import (
    MacroError,
    Variable,
    expand,
    format_interval,
    panel_interval,
    variable_from,
)
from tests.integration.support import ROOT, scratch_database

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PASSWORD = "grafana-reader-test-password"
BRUSSELS = ZoneInfo("Europe/Brussels")
# The range every dashboard is looked at with: three whole local days, as a user picking them would.
END = datetime.now(BRUSSELS).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
START = (END.astimezone(BRUSSELS) - timedelta(days=3)).astimezone(UTC)
MAX_POINTS = 1000  # a panel about 1000 pixels wide


def _with_login(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc.rsplit('@', 1)[-1]}"))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, also those inside (collapsed) rows."""
    out: list[dict[str, Any]] = []
    for p in dashboard.get("panels", []):
        out += [p, *p.get("panels", [])]
    return [p for p in out if p.get("type") != "row"]


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


# --- the expansion, against the examples of Grafana's PostgreSQL macro documentation --------------------

def test_macros_expand_as_grafana_documents_them() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
    none: dict[str, Variable] = {}
    assert expand("WHERE $__timeFilter(time)", none, start, end, timedelta(minutes=1)) == \
        "WHERE time BETWEEN '2026-11-01T00:00:00Z' AND '2026-11-02T12:30:00Z'"
    assert expand("$__timeGroup(t, '5m')", none, start, end, timedelta(minutes=1)) == "time_bucket('300.000s',t)"
    assert expand("SELECT $__timeGroup(t, '1h'), 1", none, start, end, timedelta(minutes=1)) == \
        "SELECT time_bucket('3600.000s',t) AS \"time\", 1"  # the pre-5.3 form names the column
    assert expand("$__timeGroupAlias(t, $__interval)", none, start, end, timedelta(hours=2)) == \
        "time_bucket('7200.000s',t) AS \"time\""
    assert expand("$__timeFrom() $__timeTo() $__interval_ms", none, start, end, timedelta(minutes=5)) == \
        "'2026-11-01T00:00:00Z' '2026-11-02T12:30:00Z' 300000"
    assert expand("$__unixEpochFilter(ts)", none, start, end, timedelta(minutes=1)) == \
        "ts >= 1793491200 AND ts <= 1793622600"
    districts = {"district": Variable("district", ("Leuven", "Kessel-Lo"), multi=True),
                 "metric": Variable("metric", ("pm25",), multi=False)}
    assert expand("d IN ($district) AND m = '$metric' AND x = '${metric}' AND [[metric]]", districts, start, end,
                  timedelta(minutes=1)) == "d IN ('Leuven','Kessel-Lo') AND m = 'pm25' AND x = 'pm25' AND pm25"
    assert format_interval(timedelta(days=1)) == "1d"
    assert panel_interval(START, END, MAX_POINTS, "1h") == timedelta(hours=1)  # the panel's minimum wins
    assert panel_interval(START, START + timedelta(days=30), MAX_POINTS, None) == timedelta(hours=1)  # 43 min ↑
    with pytest.raises(MacroError, match="unknown macro"):
        expand("$__timeBucket(t)", none, start, end, timedelta(minutes=1))
    with pytest.raises(MacroError, match="missing time column"):
        expand("$__timeFilter()", none, start, end, timedelta(minutes=1))


# --- the provisioning files ------------------------------------------------------------------------------

def test_the_four_dashboards_query_the_provisioned_data_source() -> None:
    """(tests/deployment/test_compose.py checks the data source's role, password and mounts.)"""
    [source] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "citysense.yml").read_text())["datasources"]
    assert source["jsonData"]["timescaledb"] is True  # what the expansion above assumes
    titles = {load(p)["title"] for p in DASHBOARDS}
    assert {"fleet overview", "air quality", "energy per district", "mobility"} <= {
        t.split(" · ")[1].split(" against")[0] for t in titles}
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        for p in panels(load(path)):
            assert p["datasource"]["uid"] == source["uid"], (path.name, p["title"])
            for t in p["targets"]:
                assert t["datasource"]["uid"] == source["uid"], (path.name, p["title"])
                assert t["rawQuery"], (path.name, p["title"])
                assert t["rawSql"].strip(), (path.name, p["title"])


# --- every panel against real data -----------------------------------------------------------------------

@pytest.fixture(scope="module")
async def filled() -> AsyncIterator[tuple[str, str]]:
    """(owner URL, read-only role URL) of a database of its own with three days of the default fleet."""
    async with scratch_database(SERVER_URL, "citysense_grafana", Settings(grafana_db_password=PASSWORD)) as url:
        prep = PrepareConfig(tz=BRUSSELS, max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))
        await backfill(load_fleet(), START, END, 5, url, prep, batch_size=5000)
        yield url, _with_login(url, "citysense_grafana", PASSWORD)


@pytest.fixture
async def reader(filled: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(filled[1])
    yield conn
    await conn.close()


async def variables_of(conn: asyncpg.Connection, dashboard: dict[str, Any]) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    for spec in dashboard["templating"]["list"]:
        assert spec["type"] == "query", f"{dashboard['title']}: variable {spec['name']} of type {spec['type']}"
        rows = await conn.fetch(expand(spec["query"], out, START, END, timedelta(minutes=1)))
        options = [str(r[0]) for r in rows]
        assert options, f"{dashboard['title']}: variable {spec['name']} has no options"
        out[spec["name"]] = variable_from(spec, options)
    return out


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
async def test_every_panel_runs_as_the_read_only_role(reader: asyncpg.Connection, path: Path) -> None:
    assert await reader.fetchval("SELECT current_user") == "citysense_grafana"
    dashboard = load(path)
    variables = await variables_of(reader, dashboard)
    for p in panels(dashboard):
        interval = panel_interval(START, END, MAX_POINTS, p.get("interval"))
        for t in p["targets"]:
            sql = expand(t["rawSql"], variables, START, END, interval)
            try:
                rows = await reader.fetch(sql)
            except asyncpg.PostgresError as exc:
                raise AssertionError(f"{path.name} / {p['title']}: {exc}\n{sql}") from exc
            if p["type"] == "table":
                continue  # a table may rightly be empty (no dead letters, no silent sensor)
            assert rows, f"{path.name} / {p['title']}: no rows over three days of the default fleet\n{sql}"
            values = [v for r in rows for k, v in r.items() if k not in ("time", "metric")]
            assert any(v is not None for v in values), f"{path.name} / {p['title']}: only nulls"
            if t["format"] == "time_series":
                assert "time" in rows[0], f"{path.name} / {p['title']}: a time series needs a `time` column"


async def test_the_pm25_panel_matches_numpy_over_the_raw_readings(filled: tuple[str, str],
                                                                  reader: asyncpg.Connection) -> None:
    dashboard = load(GRAFANA / "dashboards" / "air-quality.json")
    [panel] = [p for p in panels(dashboard) if p["title"].startswith("PM2.5 daily mean")]
    variables = await variables_of(reader, dashboard)
    sql = expand(panel["targets"][0]["rawSql"], variables, START, END, timedelta(days=1))
    got = {(r["time"], r["metric"]): r["pm25"] for r in await reader.fetch(sql)}

    owner = await asyncpg.connect(filled[0])
    try:
        raw = await owner.fetch("SELECT r.time, s.district, r.value FROM readings r JOIN sensors s "
                                "ON s.id = r.sensor_id WHERE r.metric = 'pm25' AND s.district IS NOT NULL")
    finally:
        await owner.close()
    by_day: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    for r in raw:
        local = r["time"].astimezone(BRUSSELS)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)  # local midnight
        if START <= day <= END:
            by_day[(day, r["district"])].append(r["value"])
    want = {k: float(np.mean(v)) for k, v in by_day.items()}
    assert want, "the default fleet has PM2.5 sensors with a district"
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


async def test_the_role_reads_later_tables_and_views_but_writes_nothing(filled: tuple[str, str],
                                                                        reader: asyncpg.Connection) -> None:
    owner = await asyncpg.connect(filled[0])
    try:
        # What a later migration does (e.g. readings becoming a view over new tables): no new grant needed.
        await owner.execute("CREATE TABLE series_probe (id int PRIMARY KEY, sensor_id text)")
        await owner.execute("INSERT INTO series_probe VALUES (1, 'a'), (2, 'b')")
        await owner.execute("CREATE VIEW series_probe_view AS SELECT count(*) AS n FROM series_probe")
        assert await reader.fetchval("SELECT n FROM series_probe_view") == 2
        assert await reader.fetchval("SELECT count(*) FROM series_probe") == 2
    finally:
        await owner.close()
    for statement in ("INSERT INTO sensors (id, source) VALUES ('grafana:x', 'grafana')", "DELETE FROM series_readings",
                      "CREATE TABLE grafana_was_here (x int)", "UPDATE series_probe SET id = 3"):
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)):
            await reader.execute(statement)
