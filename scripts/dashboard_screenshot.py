"""The README's picture of the dashboard: the page at URL (default the `make demo` API) in Debian's
Chromium driven by Playwright, the same browser as tests/integration/api/test_dashboard.py.

    .venv/bin/python scripts/dashboard_screenshot.py [URL] [OUT] [nl|en]

Take it against a database with backfilled history (`make demo` backfills a week), so every
panel has data. Map tiles load when the machine can reach the tile server; without, the map
shows the schematic districts, as it does offline.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from playwright.async_api import async_playwright

CHROMIUM = os.environ.get("CITYSENSE_TEST_CHROMIUM", "/usr/bin/chromium")


async def shoot(url: str, out: Path, lang: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-gpu"])
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Europe/Brussels")
            page = await context.new_page()
            await page.goto(url)
            await page.evaluate(f"localStorage.setItem('citysense.lang', '{lang}')")
            await page.reload()
            await page.wait_for_selector("html[data-ready='true']", state="attached", timeout=60_000)
            await page.wait_for_timeout(2000)  # the live feed's first readings, tiles if any
            await page.screenshot(path=str(out))
        finally:
            await browser.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(shoot(args[0] if args else "http://127.0.0.1:8000/",
                      Path(args[1] if len(args) > 1 else "docs/dashboard-nl.png"),
                      args[2] if len(args) > 2 else "nl"))
