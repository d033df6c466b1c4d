"""The API's settings: unsafe values are refused when the settings load, not on first use."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from api.auth import Scope, parse_api_keys
from citysense.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    for key in list(os.environ):
        if key.startswith("CITYSENSE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults() -> None:
    s = Settings()
    assert (s.api_open_min_sensors, s.api_max_rows, s.api_live_queue, s.api_live_recent_hours) == (
        3, 100_000, 10_000, 48)
    assert s.api_keys == ""
    assert not s.public_read


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYSENSE_API_KEYS", "0123456789abcdef:read, fedcba9876543210xyz:admin")
    keys = parse_api_keys(Settings().api_keys)
    assert dict(keys.by_key) == {"0123456789abcdef": Scope.READ, "fedcba9876543210xyz": Scope.ADMIN}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CITYSENSE_API_KEYS": "short:admin"}, "at least 16"),
        ({"CITYSENSE_API_KEYS": "0123456789abcdef:superuser"}, "read, admin or ingest"),
        ({"CITYSENSE_API_KEYS": "0123456789abcdef"}, "key:scope"),
        ({"CITYSENSE_API_OPEN_MIN_SENSORS": "1"}, "greater than or equal to 2"),
        ({"CITYSENSE_API_MAX_ROWS": "0"}, "greater than or equal to 1"),
        ({"CITYSENSE_API_LIVE_QUEUE": "0"}, "greater than or equal to 1"),
        ({"CITYSENSE_API_REGISTRY_REFRESH_S": "0"}, "greater than 0"),
    ],
)
def test_unsafe_api_settings_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=message):
        Settings()
