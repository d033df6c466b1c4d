"""Code newer than the database schema refuses to start, with the command that fixes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from citysense.settings import Settings
from models.migrate import SchemaOutdated, discover


@pytest.fixture
async def without_last_migration(db: asyncpg.Connection) -> AsyncIterator[str]:
    """The schema as an older citysense left it: the newest migration not recorded."""
    last = discover()[-1]
    await db.execute("DELETE FROM schema_migrations WHERE version = $1", last.version)
    try:
        yield f"{last.version:04d}_{last.name}"
    finally:
        await db.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", last.version, last.name)


async def test_ingest_exits_with_the_missing_migration_named(without_last_migration: str, ingest_factory) -> None:
    with pytest.raises(AssertionError) as exited:
        ingest_factory(topics="citysense/json/+")
    assert "ingest exited with 2" in str(exited.value)
    assert f"lacks migration(s) {without_last_migration}: run `citysense migrate`" in str(exited.value)


async def test_api_refuses_to_start_with_the_missing_migration_named(
    without_last_migration: str, database_url: str
) -> None:
    app = create_app(Settings(database_url=database_url, ingest_live_topic=""))
    with pytest.raises(SchemaOutdated, match=f"{without_last_migration}: run `citysense migrate`"), TestClient(app):
        pass


async def test_a_current_schema_starts(database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=database_url, ingest_live_topic=""))) as client:
        assert client.get("/health").status_code == 200
