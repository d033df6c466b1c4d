"""The FastAPI application: a lifespan that yields typed state, and the routers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import alerting
from api.admission import LiveLimits, LiveSlots, PublicRate
from api.answers.health import thresholds
from api.answers.live import SNAPSHOT_QUERIES
from api.auth import Scope, parse_api_keys
from api.fleet_facts import FleetFacts
from api.live.bus import BusFollower
from api.live.hub import Hub
from api.live.pages import SharedPages
from api.metrics import instrument
from api.push.intake import Intake
from api.push.publisher import PushPublisher
from api.read_route import ReadRoute
from api.routes import aggregates, dashboard, health, ingest, live, opendata, policy, sensors, sensorthings
from api.routes.alerts import router as alerts_router
from api.routes.fleet_health import router as fleet_health_router
from api.sensor_cache import RegistryCache
from api.state import AppState
from api.throttle import PublicRateLimit
from citysense.settings import Settings, load_settings
from ingest.prepare import prepare_config
from ingest.writer import Writer
from models.migrate import require_current

log = logging.getLogger("citysense.api")

DESCRIPTION = """
Leuven's smart-city sensor data: the registry, raw readings, aggregates, policy reports, open
data and live feeds. Times are ISO-8601 with a zone; `from` is inclusive, `to` exclusive.

**Access.** Keys come from CITYSENSE_API_KEYS (`key:scope`, scope `read`, `admin` or `ingest`), sent
as `X-API-Key: <key>` or `Authorization: Bearer <key>`. Reading needs a read (or admin) key unless
CITYSENSE_PUBLIC_READ=true; writing the registry always needs an admin key; pushing device payloads
(`/api/v1/ingest/*`) needs an ingest key (an admin key will not do: device configs hold ingest keys
only), which may also come as the password of HTTP basic auth; `/api/v1/open/*` is public. A missing
or unknown key gets 401, a key without the scope 403. Callers without a key never see private
sensors (e.g. household meters).
"""


class Lifespan(TypedDict):
    app: AppState


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # SQLSTATE class 22: a value PostgreSQL cannot take (a NUL in a sensor id, a number out of
    # range). The caller sent it, so it is the caller's error, not the server's.
    detail = exc.message if isinstance(exc, asyncpg.PostgresError) else str(exc)
    return JSONResponse({"detail": f"a value the database cannot take: {detail}"}, status_code=400)


async def _check_schema(pool: asyncpg.Pool) -> None:
    """Refuse to start on a database that lacks migrations (raises SchemaOutdated). A database
    that does not answer yet is no reason to refuse: /health reports it until it does."""
    try:
        async with asyncio.timeout(10):
            await require_current(pool)
    except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError) as exc:
        log.warning("could not check the database schema at start (%s)", exc)


async def _pool(url: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url, min_size=0, max_size=10, command_timeout=30,
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic plan
        # that knows neither the metric nor the range: for the aggregates that was 2.5x slower (no
        # parallel scan, no chunk exclusion at plan time). Planning each run costs about a millisecond.
        # JIT compiling took 50-100 ms of a 400 ms raw aggregate and gains nothing at this scale.
        server_settings={"plan_cache_mode": "force_custom_plan", "jit": "off"},
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    cfg = settings or load_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[Lifespan]:
        pool = await _pool(cfg.database_url)
        # A replica is a copy of the primary's schema, so the check on the primary covers it.
        # min_size=0: an unreachable replica does not keep the API from starting (api.read_route).
        reads = ReadRoute(pool, await _pool(cfg.database_read_url) if cfg.database_read_url else None)
        await _check_schema(pool)
        registry = RegistryCache(pool, cfg.api_registry_refresh_s)
        hub = Hub(cfg.api_live_queue, cfg.api_live_queue_bytes, cfg.api_live_max_lag_s)
        facts = FleetFacts(pool, registry, cfg.api_health_refresh_s, thresholds(cfg))
        arrivals = alerting.Arrivals() if cfg.ingest_live_topic else None
        bus = None if arrivals is None else BusFollower(
            cfg.mqtt, cfg.ingest_live_topic, hub, registry, listeners=(facts.add, arrivals.add),
            on_subscribe=facts.load_soon)
        keys = parse_api_keys(cfg.api_keys)
        tasks = [asyncio.create_task(registry.run(), name="registry"),
                 asyncio.create_task(facts.run(), name="health-facts")]
        live = (lambda: bus.subscribed) if bus is not None else (lambda: False)
        tasks.append(asyncio.create_task(
            alerting.run(pool, cfg, cfg.mqtt, alerting.HealthSource(facts, live), arrivals), name="alerts"))
        if bus is not None:
            tasks.append(asyncio.create_task(bus.run(), name="live-bus"))
        push = None
        # HTTP push needs its own MQTT connection; a deployment without ingest keys does not open it.
        if any(scope is Scope.INGEST for scope in keys.by_key.values()):
            publisher = PushPublisher(cfg.mqtt)
            # Strict mode (unknown sensors refused) stays ingest's: it holds the registry; the API would refuse
            # every payload with an empty one. Ingest dead-letters an unknown sensor's readings as over MQTT.
            push = Intake(publisher, dataclasses.replace(prepare_config(cfg), strict=False), Writer(pool))
            tasks.append(asyncio.create_task(publisher.run(), name="push-publisher"))
        state = AppState(
            settings=cfg, pool=pool, reads=reads, keys=keys, registry=registry, hub=hub, bus=bus,
            live_slots=LiveSlots(LiveLimits(cfg.api_live_max_clients, cfg.api_live_keyed_reserve,
                                            cfg.api_live_max_per_address)),
            public_rate=PublicRate(cfg.api_public_rate),
            snapshot_gate=asyncio.Semaphore(SNAPSHOT_QUERIES), snapshot_pages=SharedPages(), facts=facts,
            push=push,
        )
        metrics.state = state
        try:
            yield {"app": state}
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            metrics.state = None
            await reads.close()
            await pool.close()

    app = FastAPI(
        title="citysense",
        summary="Leuven's smart-city sensor data: readings, aggregates, policy reports and live feeds",
        description=DESCRIPTION,
        version="0.2.0",
        lifespan=lifespan,
    )
    app.add_exception_handler(asyncpg.DataError, _data_error)
    app.add_middleware(PublicRateLimit)
    # After the rate limit, so outside it: its 429s are counted with the other answers.
    metrics = instrument(app)
    # First: FastAPI tries the routes in order, and pushes are the API's most frequent requests.
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(fleet_health_router)
    app.include_router(sensors.router)
    app.include_router(aggregates.router)
    app.include_router(policy.router)
    app.include_router(live.router)
    app.include_router(alerts_router)
    app.include_router(opendata.router)
    app.include_router(sensorthings.router)
    app.include_router(dashboard.router)
    return app
