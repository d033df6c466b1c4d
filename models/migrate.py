"""`citysense migrate`: apply the numbered SQL files in models/migrations once each, in order.

Each file runs in its own transaction and is recorded in `schema_migrations`; an
advisory lock makes concurrent runs (two replicas starting at once) wait instead
of racing. Licensed TimescaleDB features are switched on afterwards, only where the
server's edition has them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import asyncpg

from models.legacy_conversion import convert, legacy_tables

log = logging.getLogger("citysense.migrate")


class Settings(Protocol):
    """The settings migrating needs (citysense.settings.Settings has them); a protocol, so the
    schema package depends on nothing else of citysense."""

    @property
    def database_url(self) -> str: ...
    @property
    def late_window_hours(self) -> int: ...
    @property
    def grafana_db_password(self) -> str: ...

_LOCK_KEY = 0x43697479  # "City": any constant shared by all migrators
_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("models.migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


class SchemaOutdated(RuntimeError):
    """The database lacks migrations this code needs (e.g. code upgraded, `citysense migrate` not run)."""

    def __init__(self, missing: list[Migration]) -> None:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
        super().__init__(f"the database schema lacks migration(s) {names}: run `citysense migrate`")
        self.missing = missing


async def missing(conn: asyncpg.Connection | asyncpg.Pool) -> list[Migration]:
    """The known migrations the database has not applied."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")} if exists else set()
    return [m for m in discover() if m.version not in done]


class ConversionPending(SchemaOutdated):
    """0007 is applied but its conversion of the legacy tables (models.legacy_conversion) is not finished."""

    def __init__(self, tables: list[str]) -> None:
        RuntimeError.__init__(
            self, f"the conversion to the series-keyed tables is not finished ({', '.join(tables)} "
                  f"still present): run `citysense migrate`")
        self.missing = []
        self.tables = tables


async def require_current(conn: asyncpg.Connection | asyncpg.Pool) -> None:
    """Refuse to run on an older schema: a writer would fail on every batch, an API on every query.
    Nor while legacy rows wait for conversion: a writer would not see them as duplicates."""
    if lacking := await missing(conn):
        raise SchemaOutdated(lacking)
    if pending := await legacy_tables(conn):
        raise ConversionPending(pending)


async def apply(conn: asyncpg.Connection, settings: Settings, until: int | None = None) -> list[Migration]:
    """Apply what is missing (up to version `until` when given: the bench's baseline and the
    conversion test build older schemas); return the migrations applied now."""
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for m in discover():
            if m.version in done or (until is not None and m.version > until):
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name
                )
            log.info("applied migration %04d_%s", m.version, m.name)
            applied_now.append(m)
        if until is None:
            await convert(conn)
            await _licensed_features(conn, settings)
            await _grafana_password(conn, settings)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def _grafana_password(conn: asyncpg.Connection, settings: Settings) -> None:
    """The read-only role of migration 0008 gets its password from the settings, at every run, so a
    changed CITYSENSE_GRAFANA_DB_PASSWORD takes effect with the next `citysense migrate`."""
    if not settings.grafana_db_password:
        return
    # ALTER ROLE takes no parameters: the literal is quoted by the server (format %L).
    statement = await conn.fetchval("SELECT format('ALTER ROLE citysense_grafana PASSWORD %L', $1::text)",
                                    settings.grafana_db_password)
    await conn.execute(statement)
    log.info("the role citysense_grafana has the password of CITYSENSE_GRAFANA_DB_PASSWORD")


async def timescale_license(conn: asyncpg.Connection) -> str:
    value: str = await conn.fetchval("SHOW timescaledb.license")
    return value


async def _licensed_features(conn: asyncpg.Connection, settings: Settings) -> None:
    """Native compression of chunks past the late-data window, on the Timescale-licensed edition only.

    The Apache edition (Debian's package) has no compression; retention there is the
    service's own drop_chunks (ingest.retention), which works on both editions.
    """
    if await timescale_license(conn) != "timescale":
        log.info("TimescaleDB Apache edition: compression stays off (needs the Timescale license)")
        return
    compressed = await conn.fetchval(
        "SELECT compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'series_readings'"
    )
    if not compressed:
        await conn.execute(
            "ALTER TABLE series_readings SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'time')"
        )
    await conn.execute(
        "SELECT add_compression_policy('series_readings', $1::interval, if_not_exists => true)",
        f"{settings.late_window_hours} hours",
    )
    log.info("compression policy: chunks older than %d h", settings.late_window_hours)


async def run(settings: Settings) -> list[Migration]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await apply(conn, settings)
    finally:
        await conn.close()
