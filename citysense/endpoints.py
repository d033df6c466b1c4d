"""Connection targets parsed from URLs into immutable values.

Kept apart from the code that connects (as asyncpg's connect_utils does) so the
parsing is a pure function with table-driven tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Loopback ports of the services that `citysense services up` starts. Not the
# standard ones, so a system PostgreSQL or Mosquitto on the machine is left alone.
LOCAL_PG_PORT = 55432
LOCAL_MQTT_PORT = 11883
LOCAL_DATABASE_URL = f"postgresql://citysense:citysense@127.0.0.1:{LOCAL_PG_PORT}/citysense"
LOCAL_MQTT_URL = f"mqtt://127.0.0.1:{LOCAL_MQTT_PORT}"


class EndpointError(ValueError):
    """A connection URL that cannot be used."""


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password
        user = f"{self.username}@" if self.username else ""
        return f"MqttEndpoint({'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port})"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """`mqtt://user:pass@host:port` or `mqtts://…` → MqttEndpoint (ports default 1883 / 8883)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts"):
        raise EndpointError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise EndpointError(f"MQTT URL has no host: {url!r}")
    if parts.path not in ("", "/"):
        raise EndpointError(f"MQTT URL must not have a path: {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise EndpointError(f"MQTT URL has a bad port: {url!r}") from exc
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def check_database_url(url: str) -> str:
    """Accept only URLs asyncpg understands; return it unchanged."""
    scheme = urlsplit(url.strip()).scheme
    if scheme not in ("postgresql", "postgres"):
        raise EndpointError(f"database URL must start with postgresql://, got scheme {scheme!r}")
    return url.strip()
