"""What the API's lifespan yields to every request: settings, the database pool, the parsed API
keys, the registry cache, the live hub, fleet health's facts and the admission limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from api.admission import LiveSlots, PublicRate
from api.auth import ApiKeys
from api.fleet_facts import FleetFacts
from api.live.bus import BusFollower
from api.live.hub import Event, Hub
from api.live.pages import SharedPages
from api.push.intake import Intake
from api.read_route import ReadRoute
from api.sensor_cache import RegistryCache
from citysense.settings import Settings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    pool: asyncpg.Pool  # the primary: every write, and reads that must see them (registry, alerts)
    # Read-only queries (aggregates, policy, sensors, health, live snapshot): a streaming replica with
    # CITYSENSE_DATABASE_READ_URL while it can be reached, else the primary.
    reads: ReadRoute
    keys: ApiKeys
    registry: RegistryCache
    hub: Hub
    bus: BusFollower | None  # None when the live bus is switched off (CITYSENSE_INGEST_LIVE_TOPIC empty)
    live_slots: LiveSlots
    public_rate: PublicRate
    snapshot_gate: asyncio.Semaphore  # live snapshot queries at once
    # live snapshot pages shared by clients connecting together: (events, rows, key after)
    snapshot_pages: SharedPages[tuple[tuple[Event, ...], int, tuple[str, str]]]
    facts: FleetFacts  # fleet health's facts in memory
    push: Intake | None = None  # HTTP push; None when no key has the ingest scope
