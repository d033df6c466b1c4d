"""`python -m devenv.has_data`: prints `empty` or `data` for the readings table (used by `make demo`)."""

from __future__ import annotations

import asyncio

import asyncpg

from citysense.settings import load_settings


async def _probe() -> str:
    conn = await asyncpg.connect(load_settings().database_url)
    try:
        found = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM readings)")
    finally:
        await conn.close()
    return "data" if found else "empty"


if __name__ == "__main__":
    print(asyncio.run(_probe()))
