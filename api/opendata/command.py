"""`citysense open-data build`: the bulk files of a range of past days, or (--daily) of the recent
days once a day, with a progress line per dataset and week."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg

from api.opendata.builder import build
from citysense.settings import Settings, load_settings


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["build"])
    p.add_argument("--from", dest="first", type=date.fromisoformat,
                   help="first local day (YYYY-MM-DD); default: the oldest day late readings may still change "
                        "(CITYSENSE_LATE_WINDOW_HOURS back)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, help="last local day, inclusive (default: yesterday)")
    p.add_argument("--daily", action="store_true",
                   help="keep running: build the default range now and again each day after local midnight")
    p.add_argument("--dir", type=Path, help="where the files go (default: CITYSENSE_OPEN_BULK_DIR)")


def default_range(today: date, late_window_hours: int) -> tuple[date, date]:
    """Yesterday, and the days before it that late readings may still change."""
    back = max(1, math.ceil(late_window_hours / 24))
    return today - timedelta(days=back), today - timedelta(days=1)


def _say(line: str) -> None:
    print(f"open-data: {line}", flush=True)


async def _build_once(cfg: Settings, out_dir: Path, first: date, last: date) -> None:
    pool = await asyncpg.create_pool(cfg.database_url, min_size=1, max_size=1,
                                     server_settings={"plan_cache_mode": "force_custom_plan", "jit": "off"})
    try:
        result = await build(pool, out_dir, first, last, cfg.tz, cfg.api_open_min_sensors, _say)
    finally:
        await pool.close()
    _say(f"done: {result.files} file(s) for {first}..{last} in {out_dir}, {result.changed} changed, "
         f"{result.rows} row(s)")


async def _daily(cfg: Settings, out_dir: Path) -> None:
    while True:
        today = datetime.now(cfg.tz).date()
        await _build_once(cfg, out_dir, *default_range(today, cfg.late_window_hours))
        # After the next local midnight, with a margin for the last readings of the day to arrive.
        nxt = datetime(today.year, today.month, today.day, tzinfo=cfg.tz) + timedelta(days=1, minutes=30)
        await asyncio.sleep(max(60.0, (nxt - datetime.now(cfg.tz)).total_seconds()))


def run(args: argparse.Namespace) -> int:
    cfg = load_settings()
    out_dir = args.dir or cfg.open_bulk_dir
    try:
        if args.daily:
            asyncio.run(_daily(cfg, out_dir))
            return 0
        first, last = default_range(datetime.now(cfg.tz).date(), cfg.late_window_hours)
        first, last = args.first or first, args.last or last
        if last < first:
            print(f"open-data: --to ({last}) is before --from ({first})", file=sys.stderr)
            return 2
        asyncio.run(_build_once(cfg, out_dir, first, last))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"open-data: cannot build: {exc}", file=sys.stderr)
        return 1
    return 0
