"""The dashboard at `/` in a real browser (Debian's Chromium driven by Playwright) against a real API
process, ingest process, broker and database: a backfilled fleet on the map and in the policy charts,
a reading published over MQTT showing up in the live table within seconds, and the page asking for
a read key when the API answers 401.

The browser is /usr/bin/chromium (`make test` installs it through scripts/bootstrap.sh); Playwright's
own browser downloads are never used. Without it the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from citysense.endpoints import MqttEndpoint
from ingest.prepare import PrepareConfig
from simulators.backfill import backfill
from simulators.fleet import load_fleet
from simulators.testing import unique_fleet
from tests.integration.api.support import READ_KEY, Place, api_process, register
from tests.integration.api.test_api_live import wait_subscribed
from tests.integration.support import ApiProcess, publish_all

# Debian's Chromium; CITYSENSE_TEST_CHROMIUM may name another Chromium/Chrome (e.g. on Ubuntu, which has no deb).
CHROMIUM = Path(os.environ.get("CITYSENSE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PREP = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=256 * 1024, max_future=timedelta(minutes=10))
LIVE_WITHIN_S = 10.0


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
            page.on("console", lambda msg: b.console_errors.append(f"console: {msg.text}")
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: b.console_errors.append(f"page error: {exc}"))
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


async def test_dashboard_live_map_and_policy_charts(
    db: asyncpg.Connection, database_url: str, api_server: ApiProcess, ingest_factory: Any,
    mqtt_endpoint: MqttEndpoint, unique: str, artifacts: Path, browser: Browser,
) -> None:
    # A few days of the whole simulated fleet, through ingest's own write path.
    fleet = unique_fleet(load_fleet(), unique)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = await backfill(fleet, end - timedelta(days=3), end, 5, database_url, PREP)
    assert summary.rows > 0
    assert summary.rejected == 0
    # A bin of our own on the Grote Markt that has not reported yet: the live feed will colour it.
    probe = f"citysense:dash-{unique}"
    await register(db, {probe: Place("Leuven", lat=50.87875, lon=4.70114, kind="bin")})
    ingest_factory(topics="citysense/json/+")
    await wait_subscribed(api_server)

    async with httpx.AsyncClient(base_url=api_server.url) as http:
        served = (await http.get("/api/v1/map")).json()["features"]
        page_response = await http.get("/")
        assert page_response.status_code == 200
        assert "default-src 'self'" in page_response.headers["content-security-policy"]
        assert "/" not in (await http.get("/openapi.json")).json()["paths"]  # not part of the API document
    public = {s.id for s in fleet.sensors if not s.private and s.lat is not None}
    assert {f["id"] for f in served} == public | {probe}

    page = browser.page
    await page.goto(f"{api_server.url}/")
    await wait_ready(page)
    await page.wait_for_selector("#live-status[data-state='live']")
    assert await page.locator("#auth").is_hidden()

    # Fleet health: every sensor counted once by status; our bin, which never reported, is silent;
    # the sensors with problems listed (at most 12).
    tally = dict(await page.eval_on_selector_all(
        "#fleet-health .health-counts li", "els => els.map(e => [e.dataset.status, Number(e.dataset.value)])"))
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        health = (await http.get("/api/v1/sensors/health")).json()["data"]
    assert sum(tally.values()) == len(health)
    assert tally.get("silent", 0) >= 1
    assert next(h for h in health if h["sensor_id"] == probe)["status"] == "silent"
    listed = await page.locator("#fleet-health table.health tbody tr").count()
    assert listed == min(12, sum(n for s, n in tally.items() if s != "ok"))

    # The map: one marker per sensor with a position, coloured by its latest state.
    markers = await page.eval_on_selector_all(
        ".map-svg .marker", "els => els.map(e => [e.dataset.sensor, e.dataset.band])")
    assert sorted(m[0] for m in markers) == sorted(f["id"] for f in served)
    bands = dict(markers)
    assert bands[probe] == "no-data"
    for f in served:
        p = f["properties"]
        if p["kind"] == "bin" and "fill_level" in p["latest"]:
            level = p["latest"]["fill_level"]["value"]
            assert bands[p["id"]] == ("bin-green" if level < 50 else "bin-amber" if level < 80 else "bin-red"), p
        if p["kind"] == "air" and "pm25" in p["latest"]:
            assert bands[p["id"]].startswith("air-"), p

    # The live table already holds the latest readings of the fleet; a new reading shows up in seconds.
    assert await page.locator("#live-table tbody tr").count() > 0
    published = time.monotonic()
    await publish_all(mqtt_endpoint, [(f"citysense/json/dash-{unique}", orjson.dumps(
        {"time": datetime.now(UTC).isoformat(), "readings": {"fill_level": 91.5}}))])
    row = page.locator(f"#live-table tbody tr[data-sensor='{probe}']")
    await row.wait_for(timeout=LIVE_WITHIN_S * 1000)
    took = time.monotonic() - published
    assert took < LIVE_WITHIN_S
    assert "91.5 %" in await row.inner_text()
    await page.wait_for_selector(f".map-svg .marker[data-sensor='{probe}'][data-band='bin-red']", timeout=5000)

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

    await page.wait_for_timeout(300)  # let the last redraw settle before the picture
    await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert browser.console_errors == []
    print(f"live reading in the table {took:.2f} s after the publish")


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
        assert await page.locator("#map .auth-needed").count() == 1
        assert await page.get_attribute("#live-status", "data-state") == "unauthorized"
        await page.screenshot(path=str(artifacts / "dashboard-needs-key.png"), full_page=True)

        await page.fill("#key-input", READ_KEY)
        await page.click("#key-form button[type='submit']")
        await wait_ready(page)
        await banner.wait_for(state="hidden")
        assert await page.evaluate("localStorage.getItem('citysense.apiKey')") == READ_KEY
        # The live feed takes the key as ?api_key= (EventSource cannot send headers).
        await page.wait_for_selector("#live-status[data-state='live']")

        # An empty database: every panel says so.
        for selector in ("#map", "#chart-bikes", "#chart-energy", "#chart-air", "#chart-bins",
                         "#spark-power", "#spark-pm25", "#spark-bikes", "#spark-fill_level"):
            assert "No data yet" in await page.locator(selector).inner_text(), selector
        assert "No readings yet" in await page.locator("#live-empty").inner_text()
        await page.screenshot(path=str(artifacts / "dashboard-empty.png"), full_page=True)
        # The only errors are the refused requests before the key was given.
        assert browser.console_errors
        assert all("401" in e for e in browser.console_errors), browser.console_errors
    finally:
        await browser.page.goto("about:blank")  # close the live feed: uvicorn waits for open streams on exit
        server.stop()
