from __future__ import annotations

import pytest

from citysense.endpoints import EndpointError, MqttEndpoint, check_database_url, parse_mqtt_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://localhost", MqttEndpoint("localhost", 1883, False)),
        ("mqtts://broker.example", MqttEndpoint("broker.example", 8883, True)),
        ("mqtt://127.0.0.1:11883", MqttEndpoint("127.0.0.1", 11883, False)),
        ("mqtt://ingest:s%3Acret@h:1", MqttEndpoint("h", 1, False, "ingest", "s:cret")),
        ("mqtt://user@h/", MqttEndpoint("h", 1883, False, "user", None)),
        ("  mqtt://h:2  ", MqttEndpoint("h", 2, False)),
    ],
)
def test_parse_mqtt_url(url: str, expected: MqttEndpoint) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h", "must start with mqtt:// or mqtts://"),
        ("h:1883", "must start with mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://h:port", "bad port"),
        ("mqtt://h:99999", "bad port"),
        ("mqtt://h/topic", "must not have a path"),
    ],
)
def test_parse_mqtt_url_rejects(url: str, message: str) -> None:
    with pytest.raises(EndpointError, match=message):
        parse_mqtt_url(url)


def test_repr_hides_password() -> None:
    assert "s3cret" not in repr(parse_mqtt_url("mqtt://u:s3cret@h"))


@pytest.mark.parametrize("url", ["postgresql://u:p@h/db", "postgres://h/db"])
def test_database_url_accepted(url: str) -> None:
    assert check_database_url(url) == url


@pytest.mark.parametrize("url", ["mysql://h/db", "h:5432", ""])
def test_database_url_rejected(url: str) -> None:
    with pytest.raises(EndpointError, match="must start with postgresql://"):
        check_database_url(url)
