"""What the API's lifespan yields to every request: settings and the database pool."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from citysense.settings import Settings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    pool: asyncpg.Pool
