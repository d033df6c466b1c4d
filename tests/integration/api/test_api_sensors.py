"""The registry over HTTP: read, write (admin), CSV import, latest values, the GeoJSON map,
privacy, and the access matrix of every kind of endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from citysense.endpoints import MqttEndpoint
from tests.integration.api.support import ADMIN_KEY, READ_KEY, Place, api_process, register, write

ADMIN = {"X-API-Key": ADMIN_KEY}
READ = {"X-API-Key": READ_KEY}


@pytest.fixture
def private_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path):
    server = api_process(database_url, mqtt_endpoint, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def public_api(database_url: str, mqtt_endpoint: MqttEndpoint, tmp_path: Path):
    (tmp_path / "public").mkdir()
    server = api_process(database_url, mqtt_endpoint, tmp_path / "public", CITYSENSE_PUBLIC_READ="true")
    yield server
    server.stop()


async def test_registry_write_read_and_delete(db: asyncpg.Connection, private_api) -> None:
    async with httpx.AsyncClient(base_url=private_api.url, headers=ADMIN) as http:
        body = {"id": "tasmota:pow/1", "kind": "energy", "district": "Wilsele", "lat": 50.91, "lon": 4.69,
                "private": True, "metadata": {"household": 17}}
        r = await http.post("/api/v1/sensors", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "tasmota"
        assert r.json()["metadata"] == {"household": 17}
        assert (await http.post("/api/v1/sensors", json=body)).status_code == 409
        for bad in ({**body, "id": "no-colon"}, {**body, "district": "Brussel"}, {**body, "lat": 91},
                    {**body, "kind": "toaster"}, {**body, "colour": "red"}):
            assert (await http.post("/api/v1/sensors", json=bad)).status_code == 422, bad
        r = await http.patch("/api/v1/sensors/tasmota:pow/1", json={"district": "Kessel-Lo", "model": "POW R2"})
        assert r.status_code == 200
        assert r.json()["district"] == "Kessel-Lo"
        assert r.json()["lat"] == 50.91
        assert (await http.patch("/api/v1/sensors/tasmota:pow/1", json={"private": None})).status_code == 422
        assert (await http.patch("/api/v1/sensors/none:such", json={"model": "x"})).status_code == 404
        r = await http.put("/api/v1/sensors/tasmota:pow/1", json={"kind": "energy"})
        assert r.status_code == 200
        assert r.json()["district"] is None
        assert r.json()["private"] is False
        r = await http.put("/api/v1/sensors/shelly:plug-2", json={"kind": "energy", "district": "Leuven"})
        assert r.status_code == 201
        assert (await http.put("/api/v1/sensors/nocolon", json={})).status_code == 400
        r = await http.get("/api/v1/sensors/tasmota:pow/1")
        assert r.status_code == 200
        assert r.json()["id"] == "tasmota:pow/1"
        assert (await http.delete("/api/v1/sensors/tasmota:pow/1")).status_code == 204
        assert (await http.delete("/api/v1/sensors/tasmota:pow/1")).status_code == 404
        assert [s["id"] for s in (await http.get("/api/v1/sensors")).json()["data"]] == ["shelly:plug-2"]


async def test_csv_import_is_all_or_nothing(db: asyncpg.Connection, private_api) -> None:
    good = ("id,kind,district,lat,lon,private,depth_mm\n"
            "bin:1,bin,Leuven,50.88,4.70,,1200\n"
            "bin:2,bin,Heverlee,50.86,4.69,false,1100\n"
            "p1:meter-9,energy,Wijgmaal,,,true,\n")
    async with httpx.AsyncClient(base_url=private_api.url, headers={**ADMIN, "Content-Type": "text/csv"}) as http:
        r = await http.post("/api/v1/sensors/import", content=good)
        assert r.status_code == 200
        assert r.json() == {"created": 3, "updated": 0}
        r = await http.post("/api/v1/sensors/import", content=good.replace("Heverlee", "Kessel-Lo"))
        assert r.json() == {"created": 0, "updated": 3}
        bad = good + "bin:3,bin,Brussel,50.8,4.7,,900\n"
        r = await http.post("/api/v1/sensors/import", content=bad)
        assert r.status_code == 400
        assert r.json()["detail"].startswith("line 5: district")
        assert (await http.post("/api/v1/sensors/import", content=b"\xff\xfe")).status_code == 400
        assert (await http.post("/api/v1/sensors/import", content=good, headers=READ)).status_code == 403
    rows = await db.fetch("SELECT id, district, private, metadata->>'depth_mm' AS depth FROM sensors ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("bin:1", "Leuven", False, "1200"), ("bin:2", "Kessel-Lo", False, "1100"),
        ("p1:meter-9", "Wijgmaal", True, None),
    ]


async def test_latest_map_and_privacy(db: asyncpg.Connection, database_url: str, private_api, public_api) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=30)
    rows = [
        ("air:1", "pm25", old, 9.0), ("air:1", "pm25", now - timedelta(minutes=70), 11.0),
        ("air:1", "pm25", now - timedelta(minutes=5), 12.5), ("air:1", "no2", old, 30.0),
        ("home:1", "power", now - timedelta(minutes=1), 640.0),
    ]
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await write(pool, rows)
    finally:
        await pool.close()
    await register(db, {"air:1": Place("Leuven", 50.879, 4.701), "home:1": Place("Heverlee", 50.86, 4.69, True)})
    async with httpx.AsyncClient(base_url=private_api.url, headers=READ) as http:
        latest = (await http.get("/api/v1/sensors/air:1/latest")).json()["data"]
        assert [(d["metric"], d["value"]) for d in latest] == [("no2", 30.0), ("pm25", 12.5)]  # however old
        geo = (await http.get("/api/v1/sensors.geojson")).json()
        assert geo["type"] == "FeatureCollection"
        feats = {f["id"]: f for f in geo["features"]}
        assert set(feats) == {"air:1", "home:1"}
        assert feats["air:1"]["geometry"] == {"type": "Point", "coordinates": [4.701, 50.879]}
        assert set(feats["air:1"]["properties"]["latest"]) == {"pm25"}  # no2 is 30 days silent
        assert feats["air:1"]["properties"]["latest"]["pm25"]["value"] == 12.5
        assert (await http.get("/api/v1/map", params={"within_hours": 24 * 40})).json()["features"][0][
            "properties"]["latest"].keys() == {"pm25", "no2"}
        assert (await http.get("/api/v1/sensors/home:1/readings")).status_code == 200
    async with httpx.AsyncClient(base_url=public_api.url) as http:  # anonymous, public read
        assert [s["id"] for s in (await http.get("/api/v1/sensors")).json()["data"]] == ["air:1"]
        assert [f["id"] for f in (await http.get("/api/v1/sensors.geojson")).json()["features"]] == ["air:1"]
        for path in ("/api/v1/sensors/home:1", "/api/v1/sensors/home:1/readings", "/api/v1/sensors/home:1/latest"):
            r = await http.get(path)
            assert r.status_code == 404
            assert r.json() == {"detail": "no sensor 'home:1'"}
        agg = await http.get("/api/v1/aggregates", params={"metric": "power", "group_by": "sensor"})
        assert agg.status_code == 200
        assert agg.json()["data"] == []
        # with a key, the same process serves the private sensor
        assert (await http.get("/api/v1/sensors/home:1/latest", headers=READ)).status_code == 200


# The access matrix: (method, path, scope needed). Scope None: open to all.
ENDPOINTS = [
    ("GET", "/api/v1/sensors", "read"),
    ("GET", "/api/v1/sensors.geojson", "read"),
    ("GET", "/api/v1/sensors/x:1/latest", "read"),
    ("GET", "/api/v1/aggregates?metric=pm25", "read"),
    ("GET", "/api/v1/policy/air-quality", "read"),
    ("POST", "/api/v1/sensors", "admin"),
    ("PATCH", "/api/v1/sensors/x:1", "admin"),
    ("DELETE", "/api/v1/sensors/x:1", "admin"),
    ("GET", "/api/v1/open/aggregates?metric=pm25", None),
    ("GET", "/health", "health"),
]
WRONG = {"X-API-Key": "not-a-key-0123456789"}


def expected_status(scope: str | None, key: str, public_read: bool) -> int | str:
    if scope == "health":
        return "ok"
    if key == "wrong":
        return 401
    if scope is None:
        return "ok"
    if scope == "admin":
        return {"none": 401, "read": 403, "admin": "ok"}[key]
    return "ok" if key != "none" or public_read else 401


async def test_access_matrix(db: asyncpg.Connection, private_api, public_api) -> None:
    await register(db, {"x:1": Place("Leuven")})
    headers = {"none": {}, "read": READ, "admin": ADMIN, "wrong": WRONG,
               "bearer": {"Authorization": f"Bearer {ADMIN_KEY}"}}
    for server, public in ((private_api, False), (public_api, True)):
        async with httpx.AsyncClient(base_url=server.url) as http:
            for method, path, scope in ENDPOINTS:
                for key, hdrs in headers.items():
                    body = {"id": "x:2"} if method == "POST" else ({"model": "m"} if method == "PATCH" else None)
                    r = await http.request(method, path, headers=hdrs, json=body)
                    want = expected_status(scope, "admin" if key == "bearer" else key, public)
                    if want == "ok":
                        assert r.status_code < 400, (method, path, key, public, r.status_code, r.text)
                    else:
                        assert r.status_code == want, (method, path, key, public, r.status_code)
                        assert r.json() == {"detail": "unauthorized" if want == 401 else "forbidden"}
                    if method == "DELETE" and r.status_code == 204:
                        await register(db, {"x:1": Place("Leuven")})
                    if method == "POST" and r.status_code == 201:
                        await db.execute("DELETE FROM sensors WHERE id = 'x:2'")
