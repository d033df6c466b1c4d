"""`citysense poll sensor-community`: the Sensor.Community area API → `airrohr/<sensor>` (I/O).

Every CITYSENSE_SENSOR_COMMUNITY_INTERVAL_S (5 minutes, the API's memory): one GET of the area,
new stations registered (position, district, kind), each record not sent by the previous poll
published at QoS 1. Indoor stations are left out unless CITYSENSE_SENSOR_COMMUNITY_INDOOR is set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
import orjson

from citysense.settings import Settings
from ingest.pollers import area, publishing, telemetry
from ingest.pollers.budget import retry_after_s
from ingest.pollers.running import Outcome
from ingest.pollers.telraam_rows import AnswerError

log = logging.getLogger("citysense.poll.sensor_community")
NAME = "sensor-community"

# Fills what the registry does not know yet; never overwrites what an operator set.
_REGISTER = """
INSERT INTO sensors AS s (id, source, kind, model, district, lat, lon, metadata)
SELECT id, 'sensor.community', 'air', model, district, lat, lon, metadata::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[])
     AS u(id, model, district, lat, lon, metadata)
ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    kind = CASE WHEN s.kind = 'unknown' THEN 'air' ELSE s.kind END,
    model = coalesce(s.model, excluded.model),
    district = coalesce(s.district, excluded.district),
    lat = coalesce(s.lat, excluded.lat),
    lon = coalesce(s.lon, excluded.lon),
    metadata = excluded.metadata || s.metadata
"""


@dataclass
class AreaPoller:
    settings: Settings
    seen: frozenset[object] = frozenset()  # record ids the previous poll sent
    registered: set[str] = field(default_factory=set)

    async def _register(self, stations: list[area.Station]) -> int:
        new = [s for s in stations if s.sensor_id not in self.registered]
        if not new:
            return 0
        conn = await asyncpg.connect(self.settings.database_url, timeout=10)
        try:
            await conn.execute(
                _REGISTER, [s.sensor_id for s in new], [s.model for s in new], [s.district for s in new],
                [s.lat for s in new], [s.lon for s in new],
                [orjson.dumps({"format": "sensor-community-api", "location_id": s.location_id,
                               "indoor": s.indoor}).decode() for s in new],
            )
        finally:
            await conn.close()
        self.registered.update(s.sensor_id for s in new)
        return len(new)

    async def cycle(self) -> Outcome:
        lat, lon, km = self.settings.area
        path = area.area_path(lat, lon, km)
        async with httpx.AsyncClient(base_url=self.settings.sensor_community_url, timeout=60) as http:
            try:
                answer = await http.get(path)
            except httpx.HTTPError as exc:
                return self._failed(f"GET {path}: {exc}")
        telemetry.CALLS.labels(NAME, str(answer.status_code)).inc()
        if answer.status_code in (429, 503):
            wait = retry_after_s(answer.headers.get("Retry-After"), datetime.now(UTC),
                                 self.settings.sensor_community_interval_s)
            log.warning("sensor-community: %d, retrying after %.0f s", answer.status_code, wait)
            telemetry.ERRORS.labels(NAME).inc()
            return Outcome(errors=1, wait_s=wait)
        if answer.status_code != 200:
            return self._failed(f"GET {path}: HTTP {answer.status_code}")
        try:
            recs = area.records(answer.content)
        except AnswerError as exc:
            return self._failed(f"GET {path}: {exc}")
        chosen = area.select(recs, self.seen, self.settings.sensor_community_indoor)
        registered = await self._register(chosen.stations)
        async with publishing.client(self.settings.mqtt, NAME) as mqtt:
            sent = await publishing.send(mqtt, chosen.outgoing)
        self.seen = chosen.seen  # only once every record is the broker's
        telemetry.RECORDS.labels(NAME).inc(sent)
        telemetry.SKIPPED.labels(NAME, "indoor").inc(chosen.indoor)
        telemetry.SKIPPED.labels(NAME, "repeated").inc(chosen.repeated)
        log.info("sensor-community: %d station sensor(s) (%d new), %d record(s) published, %d repeated, "
                 "%d indoor left out, 0 errors", len(chosen.stations), registered, sent, chosen.repeated,
                 chosen.indoor)
        return Outcome(errors=0)

    def _failed(self, why: str) -> Outcome:
        telemetry.ERRORS.labels(NAME).inc()
        log.warning("sensor-community: %s", why)
        return Outcome(errors=1)
