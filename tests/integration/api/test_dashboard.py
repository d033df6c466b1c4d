"""The dashboard at `/` in a real browser (Debian's Chromium driven by Playwright) against a real API
process, ingest process, broker and database: a backfilled fleet on the Leaflet map (over a local
stand-in for OpenStreetMap's tile server) and in the policy charts, in Dutch by default and in
English after the switch; health on the map and in the live table, a firing alert, the sensor
detail view against numpy over the raw rows, a CSV download against the JSON answer; a reading
published over MQTT showing up in the live table within seconds; and the page asking for a read
key when the API answers 401, its map still drawn with no tile server reachable.

The browser is /usr/bin/chromium (`make test` installs it through scripts/bootstrap.sh); Playwright's
own browser downloads are never used. Without it the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from api.routes.dashboard import DASHBOARD_DIR
from citysense.endpoints import MqttEndpoint
from ingest.prepare import PrepareConfig
from models.districts import DISTRICTS
from simulators.backfill import backfill
from simulators.fleet import load_fleet
from simulators.testing import unique_fleet
from tests.integration.api.support import ADMIN_KEY, READ_KEY, Place, api_process, expected, register
from tests.integration.api.test_api_live import wait_subscribed
from tests.integration.support import publish_all

# Debian's Chromium; CITYSENSE_TEST_CHROMIUM may name another Chromium/Chrome (e.g. on Ubuntu, which has no deb).
CHROMIUM = Path(os.environ.get("CITYSENSE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))
LIVE_WITHIN_S = 10.0

# The page's one message catalogue: what the page must say, in each language.
_CATALOGUE = (DASHBOARD_DIR / "messages.js").read_text()
MESSAGES: dict[str, dict[str, Any]] = json.loads(
    _CATALOGUE[_CATALOGUE.index("= ") + 2:].strip().removesuffix(";"))
DUTCH_WEEKDAYS = {"ma", "di", "wo", "do", "vr", "za", "zo"}
ENGLISH_WEEKDAYS = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


def _browser_or_skip() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package `chromium`, which scripts/bootstrap.sh installs; "
                       "or set CITYSENSE_TEST_CHROMIUM to a Chromium/Chrome executable)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[dev]')")
    if not missing:
        return
    reason = "the dashboard browser test needs " + " and ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run it, not skip it")
    pytest.skip(reason)


@dataclass
class Browser:
    page: Any  # playwright.async_api.Page (the package is optional at import time)
    console_errors: list[str] = field(default_factory=list)
    failed_urls: list[str] = field(default_factory=list)  # where the console errors were about a resource

    def errors_besides_throttling(self) -> list[str]:
        """The console errors, less Chromium's report of each 429 (the dashboard waits and asks again)."""
        return [e for e in self.console_errors if "status of 429" not in e]

    def errors_besides(self, origin: str) -> list[str]:
        """The console errors, less the failed loads from `origin` (tiles with no network)."""
        return [e for e, url in zip(self.console_errors, self.failed_urls, strict=True) if not url.startswith(origin)]


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """A fresh headless Chromium (its own user-data-dir), with console errors and page errors collected."""
    _browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900}, timezone_id="Europe/Brussels", locale="en-GB",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            b = Browser(page)
            def on_console(msg: Any) -> None:
                if msg.type == "error":
                    b.console_errors.append(f"console: {msg.text}")
                    b.failed_urls.append(msg.location.get("url", ""))

            def on_error(exc: Any) -> None:
                b.console_errors.append(f"page error: {exc}")
                b.failed_urls.append("")

            page.on("console", on_console)
            page.on("pageerror", on_error)
            page.set_default_timeout(20_000)
            yield b
        finally:
            await context.close()


async def wait_ready(page: Any) -> None:
    """Until the page has loaded everything once (app.js sets html[data-ready=true]). A selector, not
    wait_for_function: the page's Content-Security-Policy forbids the eval that the latter needs."""
    await page.wait_for_selector("html[data-ready='true']", state="attached")


async def values(page: Any, selector: str) -> list[float]:
    got: list[str] = await page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.value)")
    return [float(v) for v in got]


async def weekdays(page: Any) -> set[str]:
    """The day names under the bike chart's bars."""
    got: list[str] = await page.eval_on_selector_all("#chart-bikes svg.bars text.xlabel tspan:first-child",
                                                     "els => els.map(e => e.textContent)")
    assert got
    return set(got)


def msg(lang: str, key: str) -> str:
    text = MESSAGES[lang][key]
    assert isinstance(text, str), key
    return text


# A stand-in for OpenStreetMap's tile server (https://tile.openstreetmap.org/{z}/{x}/{y}.png): 256 x 256
# PNG tiles at /{z}/{x}/{y}.png, 404 for anything else; it records what it was asked for.

def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass
class TileServer:
    origin: str
    requested: list[tuple[int, int, int]]

    @property
    def template(self) -> str:
        return f"{self.origin}/{{z}}/{{x}}/{{y}}.png"


@pytest.fixture
def tile_server() -> Iterator[TileServer]:
    tile = _png(256, 256, (226, 232, 220))
    requested: list[tuple[int, int, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.lstrip("/").removesuffix(".png").split("/")
            if self.path.endswith(".png") and len(parts) == 3 and all(p.isdigit() for p in parts):
                z, x, y = (int(p) for p in parts)
                requested.append((z, x, y))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)
            else:
                self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TileServer(f"http://127.0.0.1:{server.server_address[1]}", requested)
    finally:
        server.shutdown()
        server.server_close()


def tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    """The slippy-map tile holding a position (OpenStreetMap's tile numbering)."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


async def test_dashboard_in_dutch_then_english_with_map_health_detail_and_downloads(
    db: asyncpg.Connection, database_url: str, ingest_factory: Any, mqtt_endpoint: MqttEndpoint, unique: str,
    tmp_path: Path, artifacts: Path, browser: Browser, tile_server: TileServer,
) -> None:
    # A few days of the whole simulated fleet, through ingest's own write path.
    fleet = unique_fleet(load_fleet(), unique)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = await backfill(fleet, end - timedelta(days=3), end, 5, database_url, PREP)
    assert summary.rows > 0
    assert summary.rejected == 0
    # A bin of our own on the Grote Markt that has not reported yet: the live feed will colour it, a
    # facility manager finds it by its street, and an alert rule watches it.
    probe = f"citysense:dash-{unique}"
    street = "Probestraat"  # no sensor of the fleet is on it
    await register(db, {probe: Place("Leuven", lat=50.87875, lon=4.70114, kind="bin")})
    await db.execute("UPDATE sensors SET metadata = jsonb_build_object('street', $2::text) WHERE id = $1",
                     probe, street)
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true",
                         CITYSENSE_MAP_TILES=tile_server.template, CITYSENSE_MAP_ATTRIBUTION="© stand-in tiles")
    try:
        ingest_factory(topics="citysense/json/+")
        await wait_subscribed(server)
        async with httpx.AsyncClient(base_url=server.url) as http:
            served = (await http.get("/api/v1/map")).json()["features"]
            page_response = await http.get("/")
            assert page_response.status_code == 200
            policy = page_response.headers["content-security-policy"]
            csp = dict(part.strip().split(" ", 1) for part in policy.split(";"))
            assert csp["default-src"] == "'self'"
            assert csp["img-src"].split() == ["'self'", "data:", tile_server.origin]  # exactly the tile origin
            assert "/" not in (await http.get("/openapi.json")).json()["paths"]  # not part of the API document
            rule = (await http.post("/api/v1/alerts/rules", headers={"X-API-Key": ADMIN_KEY}, json={
                "name": f"bin full {unique}", "metric": "fill_level", "op": ">=", "threshold": 90, "sensor": [probe]}))
            assert rule.status_code == 201, rule.text
        public = {s.id for s in fleet.sensors if not s.private and s.lat is not None}
        assert {f["id"] for f in served} == public | {probe}

        page = browser.page
        await page.goto(f"{server.url}/")
        await wait_ready(page)
        await page.wait_for_selector("#live-status[data-state='live']")
        assert await page.locator("#auth").is_hidden()

        # Dutch by default: the catalogue's texts, Dutch day names and decimal commas.
        assert await page.get_attribute("html", "lang") == "nl"
        assert await page.locator("#now-title").inner_text() == msg("nl", "now.title")
        assert await page.locator("#map-title").inner_text() == msg("nl", "map.title")
        assert await page.locator("#health-title").inner_text() == msg("nl", "health.title")
        assert await weekdays(page) <= DUTCH_WEEKDAYS

        async with httpx.AsyncClient(base_url=server.url) as http:
            health = {h["sensor_id"]: h for h in (await http.get("/api/v1/sensors/health")).json()["data"]}

        # Fleet health: every sensor counted once by status; our bin, which never reported, is silent;
        # the sensors with problems listed (at most 12).
        tally = dict(await page.eval_on_selector_all(
            "#fleet-health .health-counts li", "els => els.map(e => [e.dataset.status, Number(e.dataset.value)])"))
        assert sum(tally.values()) == len(health)
        assert tally.get("silent", 0) >= 1
        assert health[probe]["status"] == "silent"
        listed = await page.locator("#fleet-health table.health tbody tr").count()
        assert listed == min(12, sum(n for s, n in tally.items() if s != "ok"))

        # The map: Leaflet over the stand-in's tiles (those around Leuven were fetched), the five
        # schematic districts, one marker per sensor with a position, filled by its latest state and
        # outlined by its health.
        assert await page.locator("#map.leaflet-container").count() == 1
        await page.wait_for_selector("#map img.leaflet-tile-loaded", state="attached")
        zooms = {z for z, _, _ in tile_server.requested}
        z = max(zooms)
        assert tile_of(50.8798, 4.7005, z) in {(x, y) for zz, x, y in tile_server.requested if zz == z}
        assert await page.locator("#map path.district-area").count() == len(DISTRICTS)
        assert "stand-in tiles" in await page.locator("#map .leaflet-control-attribution").inner_text()
        markers = await page.eval_on_selector_all(
            "#map .marker", "els => els.map(e => [e.dataset.sensor, e.dataset.band, e.dataset.health])")
        assert sorted(m[0] for m in markers) == sorted(f["id"] for f in served)
        bands = {m[0]: m[1] for m in markers}
        assert {m[0]: m[2] for m in markers} == {f["id"]: health[f["id"]]["status"] for f in served}
        assert bands[probe] == "no-data"
        for f in served:
            p = f["properties"]
            if p["kind"] == "bin" and "fill_level" in p["latest"]:
                level = p["latest"]["fill_level"]["value"]
                assert bands[p["id"]] == ("bin-green" if level < 50 else "bin-amber" if level < 80 else "bin-red"), p
            if p["kind"] == "air" and "pm25" in p["latest"]:
                assert bands[p["id"]].startswith("air-"), p

        # Coloured by health instead: one fill per status, a different one for each.
        await page.click("#map-colour [data-colour='health']")
        fills = await page.eval_on_selector_all(
            "#map[data-colour-by='health'] .marker", "els => els.map(e => [e.dataset.health, "
                                                     "e.querySelector('.shape').getAttribute('fill')])")
        assert len(fills) == len(served)
        by_status: dict[str, set[str]] = {}
        for status, fill in fills:
            by_status.setdefault(status, set()).add(fill)
        assert len(by_status) >= 2  # our silent bin and the healthy fleet at least
        assert all(len(f) == 1 for f in by_status.values()), by_status
        assert len({next(iter(f)) for f in by_status.values()}) == len(by_status)
        await page.click("#map-colour [data-colour='value']")
        assert await page.get_attribute(f"#map .marker[data-sensor='{probe}']", "data-band") == "no-data"

        # The live table holds the latest readings of the fleet, each row with its health badge; a new
        # reading shows up in seconds, with a decimal comma.
        rows = await page.eval_on_selector_all(
            "#live-table tbody tr", "els => els.map(e => [e.dataset.sensor, e.dataset.health, "
                                    "e.querySelector('.badge')?.dataset.status ?? null])")
        assert rows
        for sensor_id, status, badge in rows:
            assert status == badge == health[sensor_id]["status"], sensor_id
        published = time.monotonic()
        await publish_all(mqtt_endpoint, [(f"citysense/json/dash-{unique}", orjson.dumps(
            {"time": datetime.now(UTC).isoformat(), "readings": {"fill_level": 91.5}}))])
        row = page.locator(f"#live-table tbody tr[data-sensor='{probe}']")
        await row.wait_for(timeout=LIVE_WITHIN_S * 1000)
        took = time.monotonic() - published
        assert took < LIVE_WITHIN_S
        assert "91,5 %" in await row.inner_text()
        await page.wait_for_selector(f"#map .marker[data-sensor='{probe}'][data-band='bin-red']", timeout=5000)

        # Sparklines: hourly points over the last 24 hours for each kind.
        for metric in ("power", "pm25", "bikes", "fill_level"):
            card = page.locator(f"#spark-{metric}")
            assert int(await card.get_attribute("data-points") or 0) > 0, metric
            assert await card.locator("svg.sparkline circle.pt").count() > 0, metric

        # The four policy charts, with data.
        bikes = await values(page, "#chart-bikes svg.bars rect.bar")
        assert max(bikes, default=0) > 0
        kwh = await values(page, "#chart-energy svg.bars rect.bar")
        assert max(kwh, default=0) > 0
        assert await page.locator("#chart-air svg.bars rect.bar").count() > 0  # exceedance days (may be 0 each)
        valid_days = await values(page, "#chart-air svg.bars rect.ghost")
        assert max(valid_days, default=0) >= 1
        assert await page.locator("#chart-bins table.bins tbody tr").count() > 0
        # The bin urgency list follows the live feed: our bin at 91.5 % is above the 80 % threshold.
        await page.wait_for_selector(f"#chart-bins tr.urgent[data-sensor='{probe}']", timeout=20_000)

        # Downloads: the energy panel as CSV for Excel in nl-BE is the JSON answer's daily kWh per district.
        async with page.expect_download() as got:
            await page.click(".chart-card[data-report='energy'] button[data-format='csv-nl']")
        download = await got.value
        assert download.suggested_filename == "citysense-energy-daily-by-district-nl.csv"
        text = (await download.path()).read_bytes().decode("utf-8")
        assert text.startswith("\ufeff")
        table = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
        async with httpx.AsyncClient(base_url=server.url) as http:
            energy = (await http.get("/api/v1/policy/energy")).json()
        assert table[0] == ["day", "group", "kwh"]
        assert [(r[0], r[1] or None, float(r[2].replace(",", "."))) for r in table[1:]] == [
            (d["day"], d["group"], d["kwh"]) for d in energy["daily_by_district"]]

        await page.wait_for_timeout(300)  # let the last redraw settle before the picture
        await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

        # Finding a bin on its street: the search dims every other marker and zooms to street level
        # (the stand-in is asked for the tile under the bin at zoom 18); one hit opens its detail.
        await page.fill("#map-search-input", street.lower())  # any case
        await page.press("#map-search-input", "Enter")
        await page.wait_for_selector(f"#sensor-detail[open] #detail-metrics[data-sensor='{probe}']")
        lit = await page.eval_on_selector_all("#map .marker:not(.dim)", "els => els.map(e => e.dataset.sensor)")
        assert lit == [probe]
        x18, y18 = tile_of(50.87875, 4.70114, 18)
        deadline = time.monotonic() + 10
        while (18, x18, y18) not in tile_server.requested and time.monotonic() < deadline:
            await page.wait_for_timeout(100)
        assert (18, x18, y18) in tile_server.requested
        # Its detail: the health the API gives (silent until a moment ago: the health panel refreshes
        # every 30 s), its latest value in Dutch.
        status = await page.get_attribute("#detail-health .badge", "data-status")
        assert status in {"silent", "ok"}
        latest = page.locator("#detail-metrics .metric-card[data-metric='fill_level'] .latest")
        assert "91,5 %" in await latest.inner_text()
        await page.click("#detail-close")
        await page.fill("#map-search-input", "")
        await page.dispatch_event("#map-search-input", "input")

        # The detail view of a backfilled air sensor, opened from the fleet's live table row: over 7 days
        # its hourly means are those numpy computes from the raw rows.
        air = next(s for s in fleet.sensors if s.kind == "air" and not s.private and s.lat is not None)
        await page.click(f"#live-table tbody tr[data-sensor='{air.id}']")
        await page.wait_for_selector(f"#sensor-detail[open] #detail-metrics[data-sensor='{air.id}']")
        assert await page.get_attribute("#detail-health .badge", "data-status") == health[air.id]["status"]
        await page.click("#sensor-detail [data-range='7d']")
        chart = page.locator(
            "#detail-metrics[data-range='7d'] .metric-card[data-metric='pm25'] .metric-chart[data-points]")
        await chart.wait_for()
        frm = datetime.fromisoformat(await chart.get_attribute("data-from") or "")
        to = datetime.fromisoformat(await chart.get_attribute("data-to") or "")
        assert to - frm == timedelta(days=7)
        raw = [(r["sensor_id"], r["metric"], r["time"], r["value"]) for r in await db.fetch(
            "SELECT sensor_id, metric, time, value FROM readings WHERE sensor_id = $1 AND metric = 'pm25'", air.id)]
        want = expected(raw, "pm25", "avg", "1h", {air.id: None}, frm, to)
        got_values = await chart.locator("svg.sparkline circle.pt").evaluate_all(
            "els => els.map(e => Number(e.dataset.value))")
        assert got_values == pytest.approx([v for _, (v, _) in sorted(want.items())], rel=1e-9)
        await page.click("#detail-close")

        # The alert on our bin fires (the API's evaluator, every 5 s) ...
        async with httpx.AsyncClient(base_url=server.url) as http:
            deadline = time.monotonic() + 30
            firing: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                firing = (await http.get("/api/v1/alerts")).json()["data"]
                if any(a["sensor_id"] == probe for a in firing):
                    break
                await page.wait_for_timeout(500)
        assert any(a["sensor_id"] == probe for a in firing), firing

        # ... and the page, switched to English (remembered), lists it.
        await page.click("#lang-switch [data-lang='en']")
        await page.wait_for_selector("html[lang='en']", state="attached")
        await wait_ready(page)
        assert await page.evaluate("localStorage.getItem('citysense.lang')") == "en"
        assert await page.locator("#now-title").inner_text() == msg("en", "now.title")
        assert await page.locator("#map-title").inner_text() == msg("en", "map.title")
        assert await weekdays(page) <= ENGLISH_WEEKDAYS
        assert await page.locator("#map .marker").count() == len(served)
        listed_alerts = await page.eval_on_selector_all("#fleet-health ul.alerts li",
                                                        "els => els.map(e => e.dataset.sensor)")
        assert sorted(listed_alerts) == sorted(a["sensor_id"] for a in firing)
        assert await page.locator("#alert-count").is_visible()
        await page.wait_for_selector(f"#live-table tbody tr[data-sensor='{probe}']")
        assert "91.5 %" in await page.locator(f"#live-table tbody tr[data-sensor='{probe}']").inner_text()
        await page.reload()
        await wait_ready(page)
        assert await page.get_attribute("html", "lang") == "en"
        await page.click(f"#fleet-health ul.alerts li[data-sensor='{probe}']")
        await page.wait_for_selector(f"#sensor-detail[open] #detail-metrics[data-sensor='{probe}'] .metric-card")
        await page.screenshot(path=str(artifacts / "dashboard-en-detail.png"))
        await page.click("#detail-close")
        await page.screenshot(path=str(artifacts / "dashboard-en.png"), full_page=True)
        # The switch of language and the reload above load the page twice within a second or so: past
        # the per-address rate without a key, some answers are a 429 the page waits out (tested below).
        assert browser.errors_besides_throttling() == []
        print(f"live reading in the table {took:.2f} s after the publish")
    finally:
        await browser.page.goto("about:blank")  # close the live feed: uvicorn waits for open streams on exit
        server.stop()


async def test_dashboard_asks_for_a_key_then_says_no_data_yet(
    db: asyncpg.Connection, database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path, artifacts: Path,
    browser: Browser,
) -> None:
    server = api_process(database_url, mqtt_endpoint, tmp_path)  # keys required: no public read
    try:
        page = browser.page
        await page.goto(f"{server.url}/")
        await wait_ready(page)
        banner = page.locator("#auth")
        await banner.wait_for(state="visible")
        assert "401" in await banner.inner_text()
        assert await page.locator("#map-status .auth-needed").count() == 1
        assert await page.get_attribute("#live-status", "data-state") == "unauthorized"
        await page.screenshot(path=str(artifacts / "dashboard-needs-key.png"), full_page=True)

        await page.fill("#key-input", READ_KEY)
        await page.click("#key-form button[type='submit']")
        await wait_ready(page)
        await banner.wait_for(state="hidden")
        assert await page.evaluate("localStorage.getItem('citysense.apiKey')") == READ_KEY
        # The live feed takes the key as ?api_key= (EventSource cannot send headers).
        await page.wait_for_selector("#live-status[data-state='live']")

        # An empty database: every panel says so, in Dutch.
        for selector, key in (("#map-status", "map.empty"), ("#chart-bikes", "mobility.empty"),
                              ("#chart-energy", "energy.empty"), ("#chart-air", "air.empty"),
                              ("#chart-bins", "bins.empty"), ("#spark-power", "spark.empty"),
                              ("#spark-pm25", "spark.empty"), ("#spark-bikes", "spark.empty"),
                              ("#spark-fill_level", "spark.empty")):
            assert msg("nl", key) in await page.locator(selector).inner_text(), selector
        assert await page.locator("#live-empty").inner_text() == msg("nl", "live.empty")
        await page.screenshot(path=str(artifacts / "dashboard-empty.png"), full_page=True)

        # No tile server reachable (the default, OpenStreetMap, with no network): the map still draws
        # the schematic districts and, once a sensor is registered, its marker.
        await register(db, {"citysense:offline-bin": Place("Heverlee", lat=50.8640, lon=4.6890, kind="bin")})
        await page.reload()
        await wait_ready(page)
        assert await page.locator("#map path.district-area").count() == len(DISTRICTS)
        await page.wait_for_selector("#map .marker[data-sensor='citysense:offline-bin'][data-band='no-data']",
                                     state="attached")
        # The only errors are the refused requests before the key was given, and the tiles that could not load.
        others = browser.errors_besides("https://tile.openstreetmap.org/")
        assert others
        assert all("401" in e for e in others), others
    finally:
        await browser.page.goto("about:blank")  # close the live feed: uvicorn waits for open streams on exit
        server.stop()


async def test_dashboard_waits_out_the_public_rate_and_fills_every_panel(
    database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path, browser: Browser,
) -> None:
    # Three requests a second per address without a key: one page load asks for a dozen at once.
    server = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true",
                         CITYSENSE_API_PUBLIC_RATE="3/second")
    answers: list[tuple[str, int]] = []
    browser.page.on("response", lambda r: answers.append((r.url, r.status)))
    try:
        page = browser.page
        await page.goto(f"{server.url}/")
        await wait_ready(page)
        await page.wait_for_selector("#live-status[data-state='live']")  # the live feed retries on its own
        throttled = {url for url, status in answers if status == 429}
        assert throttled, "the page asked for more than the rate allows at once"
        # Every refused request was asked again and answered; no panel shows an error.
        answered = {url for url, status in answers if status == 200}
        assert throttled <= answered, sorted(throttled - answered)
        assert await page.locator(".empty.error").count() == 0
        for selector in ("#chart-bikes", "#chart-energy", "#chart-air", "#chart-bins", "#fleet-health"):
            assert await page.locator(f"{selector} svg, {selector} table, {selector} .empty").count() > 0, selector
        others = browser.errors_besides("https://tile.openstreetmap.org/")  # no network for the tiles
        assert others
        assert all("status of 429" in e for e in others), others
    finally:
        await browser.page.goto("about:blank")
        server.stop()
