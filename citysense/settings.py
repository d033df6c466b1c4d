"""The one settings class: environment variables `CITYSENSE_*` (or a `.env` file).

Unset service URLs fall back to the loopback services of `citysense services up`,
so the commands work right after `make demo` without exports.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from citysense.api_keys import parse_api_keys
from citysense.endpoints import (
    LOCAL_DATABASE_URL,
    LOCAL_MQTT_URL,
    MqttEndpoint,
    check_database_url,
    parse_mqtt_url,
)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused CITYSENSE_API_KEYS must not print the keys.
    model_config = SettingsConfigDict(
        env_prefix="CITYSENSE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = LOCAL_DATABASE_URL
    # A streaming replica the API's read-only queries go to; empty: they go to database_url too.
    database_read_url: str = ""
    mqtt_url: str = LOCAL_MQTT_URL
    timezone: str = "Europe/Brussels"
    api_keys: str = ""  # "key:scope,key:scope" — scope read, admin or ingest
    public_read: bool = False
    # Logging of every process (citysense/logs.py): one JSON object per line with `json`.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Ingest
    ingest_client_id: str = "citysense-ingest"
    ingest_topics: str = ""  # comma-separated MQTT filters; empty: every format's own topics
    ingest_share_group: str = ""  # set to split one stream over replicas ($share/<group>/…)
    ingest_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    ingest_keepalive_s: int = Field(default=60, ge=5, le=65535)
    ingest_mqtt_client: Literal["paho"] = "paho"  # the only client left; see _client below
    ingest_receive_maximum: int = Field(default=6000, ge=1, le=65535)
    ingest_batch_max_messages: int = Field(default=3000, ge=1)
    ingest_writers: int = Field(default=2, ge=1, le=8)  # batches written at once (acks stay in order)
    ingest_batch_max_age_ms: int = Field(default=200, ge=1)
    ingest_max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    ingest_max_future_s: int = Field(default=600, ge=0)
    ingest_strict_sensors: bool = False
    ingest_metrics_port: int = Field(default=9108, ge=0, le=65535)  # 0: no /metrics endpoint
    ingest_metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can reach it
    ingest_log_summary_s: float = Field(default=60.0, gt=0)  # period of the INFO line of what was committed
    ingest_live_topic: str = "citysense/live"  # committed readings are republished here; empty: off

    # The password `citysense migrate` gives the read-only role citysense_grafana (migration 0008); empty: none.
    grafana_db_password: str = ""

    # Retention: raw rows older than this are dropped (drop_chunks); 0 keeps everything.
    retention_days: int = Field(default=0, ge=0)
    late_window_hours: int = Field(default=48, ge=1)

    # Fleet health (docs/fleet-health.md)
    health_low_battery_pct: float = Field(default=15.0, ge=0, le=100)  # low_battery at or below this
    health_clock_skew_s: float = Field(default=300.0, gt=0)  # clock_skew: device and receive time differ more
    health_rejects_window_s: float = Field(default=3600.0, gt=0)  # dead letters this recent count
    api_health_refresh_s: float = Field(default=60.0, gt=0)  # the API reloads health facts from the database
    alert_webhook_secret: str = ""  # signs webhook bodies (X-Citysense-Signature)
    alert_check_s: float = Field(default=5.0, gt=0)  # the evaluator checks every rule this often
    alert_webhook_timeout_s: float = Field(default=5.0, gt=0)

    # API
    # k of the open-data endpoint: a published row must come from at least this many sensors.
    api_open_min_sensors: int = Field(default=3, ge=2)
    api_max_rows: int = Field(default=100_000, ge=1, le=10_000_000)  # buckets x groups per aggregate answer
    api_live_queue: int = Field(default=10_000, ge=1)  # readings buffered per live client before it lags
    # ...and bytes: the bound that makes a client's memory small whatever the readings look like.
    api_live_queue_bytes: int = Field(default=256 * 1024, ge=4096)
    api_live_max_lag_s: float = Field(default=60.0, gt=0)  # behind (or not reading) this long: disconnected
    api_live_max_clients: int = Field(default=1000, ge=1)  # live clients per API process, all together
    api_live_keyed_reserve: int = Field(default=100, ge=0)  # of those, slots only clients with a key may take
    api_live_max_per_address: int = Field(default=16, ge=1)  # live clients per address without a key
    api_live_snapshot_page: int = Field(default=250, ge=1, le=10_000)  # series per snapshot query and write
    # Requests per client address without a key on /api/*, in the `limits` notation ("N/second;M/minute");
    # empty: no limit. Keyed requests, /health and /metrics are never limited.
    api_public_rate: str = "20/second;600/minute"
    api_live_recent_hours: int = Field(default=48, ge=1)  # latest values on connect / on the map: this far back
    api_registry_refresh_s: float = Field(default=60.0, gt=0)
    # The dashboard's map tiles: a URL template with {z}, {x} and {y} (one origin: the page's CSP allows
    # exactly it), or empty for no tiles (the schematic districts only); and the attribution its licence asks.
    map_tiles: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    # SensorThings (/sta/v1.1): entities per page without $top, and the most a page holds whatever $top says.
    sta_default_top: int = Field(default=100, ge=1)
    sta_max_top: int = Field(default=1000, ge=1, le=100_000)
    # Open data (docs/open-data.md): where `citysense open-data build` writes the bulk files and the API
    # serves them from, and who publishes the DCAT-AP catalogue.
    open_bulk_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "citysense" / "open-data")
    open_publisher_name: str = "Stad Leuven"
    open_publisher_url: str = "https://www.leuven.be"

    # Pollers (ingest/pollers): `citysense poll telraam` and `citysense poll sensor-community`
    telraam_url: str = "https://telraam-api.net"
    telraam_api_key: str = ""
    telraam_daily_calls: int = Field(default=1000, ge=1)  # calls a day the poller may make (your plan's quota)
    # The API refuses a time_start..time_end longer than 3 months; 89 days never is (Feb 1 -> May 1).
    telraam_max_window_days: int = Field(default=89, ge=1)
    telraam_interval_s: float = Field(default=900.0, gt=0)  # a pass this often; only complete hours are asked
    telraam_backfill_days: int = Field(default=7, ge=0)  # a new segment starts this far back (or --since)
    sensor_community_url: str = "https://data.sensor.community"
    sensor_community_area: str = "50.879,4.701,6"  # lat,lon,km
    sensor_community_interval_s: float = Field(default=300.0, gt=0)  # the API keeps the last 5 minutes
    sensor_community_indoor: bool = False  # true: indoor stations (location.indoor = 1) are kept too
    poll_metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: no /metrics endpoint
    poll_metrics_host: str = "127.0.0.1"

    # The Mosquitto bridge from The Things Stack (`citysense bridge-config ttn`)
    bridge_ttn_address: str = "eu1.cloud.thethings.network:8883"  # <region>.cloud.thethings.network:8883
    bridge_ttn_username: str = ""  # <application id>@<tenant id>, e.g. leuven-air@ttn
    bridge_ttn_api_key: str = ""  # an API key of the application with the right to read traffic
    bridge_ttn_cafile: str = "/etc/ssl/certs/ca-certificates.crt"  # CAs that check the server's certificate
    bridge_ttn_client_id: str = "citysense-bridge-ttn"  # fixed: the persistent session at the network server is its

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        return check_database_url(v)

    @field_validator("database_read_url")
    @classmethod
    def _read_db(cls, v: str) -> str:
        return check_database_url(v) if v else v

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, v: str) -> str:
        parse_mqtt_url(v)
        return v

    @field_validator("ingest_mqtt_client", mode="before")
    @classmethod
    def _client(cls, v: object) -> object:
        if v == "gmqtt":
            raise ValueError(
                "gmqtt was removed from ingest: it measured slower than paho here (docs/performance.md) "
                "and its session depended on gmqtt's private connection internals; use paho (the default)"
            )
        return v

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, v: str) -> str:
        parse_api_keys(v)
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("api_public_rate")
    @classmethod
    def _rate(cls, v: str) -> str:
        if v.strip():
            try:
                parse_many(v)
            except ValueError as exc:
                raise ValueError(f"not a rate like '20/second;600/minute': {v!r}") from exc
        return v

    @field_validator("sensor_community_area")
    @classmethod
    def _area(cls, v: str) -> str:
        parse_area(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("map_tiles")
    @classmethod
    def _tiles(cls, v: str) -> str:
        tile_origin(v)
        return v

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        # A batch larger than the broker may have in flight can never fill up: it would
        # wait for its age limit every time and throughput would collapse.
        if self.ingest_batch_max_messages > self.ingest_receive_maximum:
            raise ValueError(
                "CITYSENSE_INGEST_BATCH_MAX_MESSAGES must not exceed CITYSENSE_INGEST_RECEIVE_MAXIMUM "
                f"({self.ingest_batch_max_messages} > {self.ingest_receive_maximum})"
            )
        if self.api_live_keyed_reserve >= self.api_live_max_clients:
            raise ValueError(
                "CITYSENSE_API_LIVE_KEYED_RESERVE must be below CITYSENSE_API_LIVE_MAX_CLIENTS "
                f"({self.api_live_keyed_reserve} >= {self.api_live_max_clients})"
            )
        if self.ingest_share_group and not self.ingest_share_group.replace("-", "").replace("_", "").isalnum():
            raise ValueError("CITYSENSE_INGEST_SHARE_GROUP may hold letters, digits, - and _ only")
        return self

    @cached_property
    def mqtt(self) -> MqttEndpoint:
        return parse_mqtt_url(self.mqtt_url)

    @cached_property
    def area(self) -> tuple[float, float, float]:
        return parse_area(self.sensor_community_area)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def map_tile_origin(self) -> str | None:
        return tile_origin(self.map_tiles)


def tile_origin(template: str) -> str | None:
    """The origin (scheme://host[:port]) of a tile URL template, None for no tiles."""
    if not template:
        return None
    parts = urlsplit(template)
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c in parts.netloc for c in "{}@"):
        raise ValueError(f"a tile URL template must be http(s)://host/…, one fixed origin: {template!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in template]
    if missing:
        raise ValueError(f"a tile URL template needs {', '.join(missing)}: {template!r}")
    return f"{parts.scheme}://{parts.netloc}"


def parse_area(text: str) -> tuple[float, float, float]:
    """`lat,lon,km` → (lat, lon, km), the circle the Sensor.Community area API is asked about."""
    parts = text.split(",")
    try:
        lat, lon, km = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"not an area like '50.879,4.701,6' (lat,lon,km): {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < km <= 1000):
        raise ValueError(f"area out of range (lat -90..90, lon -180..180, km 0..1000): {text!r}")
    return lat, lon, km


def load_settings() -> Settings:
    return Settings()
