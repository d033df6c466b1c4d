from __future__ import annotations

from pathlib import Path

import pytest

from citysense.mosquitto_conf import render_ttn_bridge

TEMPLATE = (Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "bridge-ttn.conf.template").read_text()
GOOD = {"address": "eu1.cloud.thethings.network:8883", "username": "leuven-air@ttn", "api_key": "NNSXS.K3Y",
        "cafile": "/etc/ssl/certs/ca-certificates.crt", "client_id": "citysense-bridge-ttn"}


def _options(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value)
    return out


def test_the_bridge_has_tls_qos1_and_a_persistent_session() -> None:
    opts = _options(render_ttn_bridge(TEMPLATE, **GOOD))
    assert opts["address"] == ["eu1.cloud.thethings.network:8883"]
    assert opts["bridge_cafile"] == ["/etc/ssl/certs/ca-certificates.crt"]
    assert opts["bridge_insecure"] == ["false"]
    assert opts["remote_username"] == ["leuven-air@ttn"]
    assert opts["remote_password"] == ["NNSXS.K3Y"]
    assert opts["cleansession"] == ["false"]
    assert opts["remote_clientid"] == ["citysense-bridge-ttn"]
    assert opts["local_clientid"] == ["citysense-bridge-ttn-local"]
    assert opts["topic"] == ["v3/+/devices/+/up in 1"]


@pytest.mark.parametrize(("field", "value"), [
    ("address", "eu1.cloud.thethings.network"),  # no port
    ("address", "host:8883\naddress evil:1"),
    ("username", "leuven-air"),  # no tenant
    ("username", "a@b c"),
    ("api_key", ""),
    ("api_key", "key\nconnection other"),
    ("cafile", ""),
])
def test_values_that_would_break_or_inject_the_config_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        render_ttn_bridge(TEMPLATE, **{**GOOD, field: value})

