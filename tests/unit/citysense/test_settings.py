from __future__ import annotations

import pytest
from pydantic import ValidationError

from citysense.endpoints import LOCAL_DATABASE_URL, LOCAL_MQTT_URL
from citysense.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CITYSENSE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_point_at_local_services() -> None:
    s = Settings()
    assert (s.database_url, s.mqtt_url, s.timezone) == (LOCAL_DATABASE_URL, LOCAL_MQTT_URL, "Europe/Brussels")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYSENSE_MQTT_URL", "mqtts://ingest:pw@broker:8884")
    monkeypatch.setenv("CITYSENSE_INGEST_SHARE_GROUP", "ingest")
    s = Settings()
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.tls, s.mqtt.username) == ("broker", 8884, True, "ingest")
    assert s.ingest_share_group == "ingest"


def test_the_read_replica_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().database_read_url == ""  # the API reads from database_url then
    monkeypatch.setenv("CITYSENSE_DATABASE_READ_URL", " postgresql://citysense:pw@replica:5432/citysense ")
    assert Settings().database_read_url == "postgresql://citysense:pw@replica:5432/citysense"


def test_dotenv_file_is_read(tmp_path: pytest.TempPathFactory) -> None:
    (tmp_path / ".env").write_text("CITYSENSE_TIMEZONE=Europe/Amsterdam\n")  # type: ignore[operator]
    assert Settings().timezone == "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CITYSENSE_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"CITYSENSE_MQTT_URL": "http://h"}, "mqtt://"),
        ({"CITYSENSE_DATABASE_URL": "mysql://h/x"}, "postgresql://"),
        ({"CITYSENSE_DATABASE_READ_URL": "replica:5432/citysense"}, "postgresql://"),
        ({"CITYSENSE_INGEST_BATCH_MAX_MESSAGES": "5000", "CITYSENSE_INGEST_RECEIVE_MAXIMUM": "100"},
         "must not exceed"),
        ({"CITYSENSE_INGEST_SHARE_GROUP": "a/b"}, "letters, digits"),
        ({"CITYSENSE_INGEST_RECEIVE_MAXIMUM": "70000"}, "65535"),
        ({"CITYSENSE_MAP_TILES": "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"}, "one fixed origin"),
        ({"CITYSENSE_MAP_TILES": "https://tiles.example/{z}/{x}.png"}, r"needs \{y\}"),
    ],
)
def test_unsafe_settings_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=message):
        Settings()
