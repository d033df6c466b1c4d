"""Filling Mosquitto configuration templates (pure): the local broker's (devenv) and the bridge to
a LoRaWAN network server's MQTT broker (`citysense bridge-config ttn`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_FIELD = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Replace each ${name}; a bare $ (comments mention $CITYSENSE_STATE_DIR) stays.

    Not string.Template: that treats every $word as a field."""
    unknown = sorted({m.group(1) for m in _FIELD.finditer(template)} - set(values))
    if unknown:
        raise ValueError(f"template fields without a value: {', '.join(unknown)}")
    return _FIELD.sub(lambda m: values[m.group(1)], template)


def config_value(name: str, value: str) -> str:
    # mosquitto.conf takes the rest of the line as the value: a newline would
    # inject options, and leading/trailing blanks are silently trimmed.
    if not value or "\n" in value or "\r" in value or value != value.strip():
        raise ValueError(f"{name} cannot be written to mosquitto.conf: {value!r}")
    return value


_ADDRESS = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")
_USERNAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?@[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")  # <app>@<tenant>


def render_ttn_bridge(template: str, *, address: str, username: str, api_key: str, cafile: str,
                      client_id: str) -> str:
    """The bridge section for The Things Stack: `address` host:port (TLS, usually 8883), `username`
    `<app>@<tenant>`, the application's API key as password, the CA file to check its certificate."""
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"address must be host:port, e.g. eu1.cloud.thethings.network:8883, got {address!r}")
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"username must be <application id>@<tenant id>, e.g. leuven-air@ttn, got {username!r}")
    if " " in api_key:
        raise ValueError("the API key cannot contain spaces")
    return fill_template(template, {
        "address": address,
        "username": username,
        "api_key": config_value("api key", api_key),
        "cafile": config_value("cafile", cafile),
        "remote_clientid": config_value("client id", client_id),
        "local_clientid": config_value("client id", f"{client_id}-local"),
        "connection": config_value("client id", client_id),
    })
