"""The configuration of devenv.replica's private pair: PostgreSQL takes the last value of a setting in a
file, so the pair's lines must come after the shared server's and turn replication on."""

from __future__ import annotations

from pathlib import PurePosixPath

from devenv.replica import pair_conf, url


def _last(conf: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in conf.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.split("#")[0].strip()
    return values


def test_the_pair_replicates_on_its_own_port_and_socket() -> None:
    settings = _last(pair_conf(PurePosixPath("/tmp/citysense-replica-x/primary-run"), 40123))
    assert settings["wal_level"] == "replica"  # the shared server's `minimal` cannot stream
    assert int(settings["max_wal_senders"]) > 0
    assert settings["hot_standby"] == "on"
    assert settings["port"] == "40123"
    assert settings["unix_socket_directories"] == "'/tmp/citysense-replica-x/primary-run'"
    assert settings["listen_addresses"] == "'127.0.0.1'"
    assert settings["shared_preload_libraries"] == "'timescaledb'"


def test_url() -> None:
    assert url(40123) == "postgresql://citysense:replica-pair@127.0.0.1:40123/citysense"
