"""Shared fixtures. Integration fixtures talk to the real Mosquitto and TimescaleDB that
`citysense services up` starts (or to the ones CITYSENSE_DATABASE_URL / CITYSENSE_MQTT_URL name)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


os.environ.setdefault("CITYSENSE_LOG_LEVEL", "INFO")
