"""Fleet health follows registry edits made through the API at once, although the API keeps the
fleet's facts in memory: a sensor made private leaves anonymous answers with the next request,
a deleted one leaves every answer, an edited district is filtered by right after the reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import ADMIN_KEY, api_process, write
from tests.integration.support import eventually


async def test_registry_edits_reach_health_at_once(
    db: asyncpg.Connection, database_url: str, mqtt_endpoint: MqttEndpoint, unique: str, tmp_path: Path,
) -> None:
    sensor_id = f"test:{unique}-air"
    now = datetime.now(UTC)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write(pool, [(sensor_id, "pm25", now - timedelta(minutes=10 * i), 5.0 + i) for i in range(6)])
    finally:
        await pool.close()
    api = api_process(database_url, mqtt_endpoint, tmp_path, CITYSENSE_PUBLIC_READ="true")
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as anonymous, httpx.AsyncClient(
                base_url=api.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as admin:
            async def ids(http: httpx.AsyncClient, **params: str) -> set[str]:
                r = await http.get("/api/v1/sensors/health", params=params)
                assert r.status_code == 200, r.text
                return {e["sensor_id"] for e in r.json()["data"]}

            r = await admin.patch(f"/api/v1/sensors/{sensor_id}", json={"kind": "air", "district": "Leuven"})
            assert r.status_code == 200, r.text

            async def listed_in_leuven() -> bool:
                return sensor_id in await ids(anonymous, district="Leuven")
            await eventually(listed_in_leuven, 20, "the edited sensor in Leuven")
            assert sensor_id not in await ids(anonymous, district="Heverlee")

            assert (await admin.patch(f"/api/v1/sensors/{sensor_id}", json={"private": True})).status_code == 200
            assert sensor_id not in await ids(anonymous)  # the very next request

            async def back_for_keys() -> bool:
                return sensor_id in await ids(admin)
            await eventually(back_for_keys, 20, "the private sensor for keyed callers")
            assert sensor_id not in await ids(anonymous)

            assert (await admin.delete(f"/api/v1/sensors/{sensor_id}")).status_code == 204
            assert sensor_id not in await ids(admin)
    finally:
        api.stop()
