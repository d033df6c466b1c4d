"""The OpenAPI document describes every operation and every parameter, and the paths docs/interface.md lists."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from citysense.settings import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(database_url="postgresql://u:p@127.0.0.1:1/x")).openapi()


def test_spec_paths_are_there(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for path in ("/health", "/api/v1/sensors", "/api/v1/sensors/{sensor_id}/readings", "/api/v1/aggregates",
                 "/api/v1/live", "/api/v1/live/sse", "/api/v1/open/aggregates", "/api/v1/sensors.geojson",
                 "/api/v1/policy/mobility", "/api/v1/policy/cleanliness", "/api/v1/policy/energy",
                 "/api/v1/policy/air-quality", "/api/v1/sensors/import"):
        assert path in paths, path
    assert set(paths["/api/v1/sensors/{sensor_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/sensors"]) == {"get", "post"}
    assert {p["name"] for p in paths["/api/v1/aggregates"]["get"]["parameters"]} >= {
        "metric", "bucket", "agg", "group_by", "from", "to", "district", "kind", "sensor", "bbox", "fill", "format",
        "source"}


def test_every_operation_and_parameter_is_described(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            assert op.get("description"), (method, path)
            for p in op.get("parameters", []):
                assert p.get("description"), (method, path, p["name"])


def test_security_schemes(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
    assert spec["paths"]["/api/v1/open/aggregates"]["get"]["security"]
