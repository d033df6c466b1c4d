"""On the Apache edition (the local server) `citysense migrate` leaves compression off and the
series-keyed tables as they are; the licensed path cannot run here."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from citysense.settings import Settings
from models.migrate import apply, timescale_license


async def test_the_apache_edition_skips_compression_cleanly(
    db: asyncpg.Connection, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if await timescale_license(db) != "apache":
        pytest.skip("this server has the Timescale license: compression is switched on there")
    with caplog.at_level(logging.INFO, logger="citysense.migrate"):
        assert await apply(db, Settings(database_url=database_url)) == []
    assert "Apache edition: compression stays off" in caplog.text
    enabled = await db.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables "
                             "WHERE compression_enabled")
    assert enabled == []
    jobs = await db.fetchval("SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'")
    assert jobs == 0
