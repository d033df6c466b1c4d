"""The FastAPI application: a lifespan that yields typed state, and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
from fastapi import FastAPI

from api.routes import health, sensors
from api.state import AppState
from citysense.settings import Settings, load_settings


class Lifespan(TypedDict):
    app: AppState


def create_app(settings: Settings | None = None) -> FastAPI:
    cfg = settings or load_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[Lifespan]:
        pool = await asyncpg.create_pool(cfg.database_url, min_size=0, max_size=10, command_timeout=30)
        try:
            yield {"app": AppState(settings=cfg, pool=pool)}
        finally:
            await pool.close()

    app = FastAPI(
        title="citysense",
        summary="Leuven's smart-city sensor data: readings, aggregates and live feeds",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(sensors.router)
    return app
