"""Fleet files: the default fleet's coverage, and validation with exact messages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from simulators.fleet import (
    DISTRICTS,
    FleetError,
    from_records,
    load_fleet,
    parse_fleet,
    parse_fleet_text,
    parse_interval,
    to_records,
)

FLEET = load_fleet()


def test_default_fleet_covers_every_kind_and_district() -> None:
    assert 35 <= len(FLEET) <= 45
    kinds = Counter(s.kind for s in FLEET.sensors)
    assert all(kinds[k] >= 5 for k in ("energy", "air", "mobility", "bin")), kinds
    assert set(s.district for s in FLEET.sensors) == set(DISTRICTS)
    households = [s for s in FLEET.sensors if s.kind == "energy" and s.private]
    assert len(households) >= 5
    assert all(50.84 < s.lat < 50.94 and 4.66 < s.lon < 4.75 for s in FLEET.sensors)


def test_default_fleet_uses_every_format_and_both_lorawan_servers_for_bins() -> None:
    formats = {s.format for s in FLEET.sensors}
    assert formats == {"tasmota", "shelly-gen2-status", "shelly-gen2-rpc", "shelly-gen1", "dsmr", "zigbee2mqtt",
                       "sensor-community", "ttn", "chirpstack", "telraam", "senml"}
    bins = {s.format for s in FLEET.sensors if s.kind == "bin"}
    assert bins == {"ttn", "chirpstack"}
    assert all(s.model == "EM310-UDL" and s.metadata["depth_mm"] > 0 for s in FLEET.sensors if s.kind == "bin")
    assert {s.model for s in FLEET.sensors if s.kind == "air" and s.format in ("ttn", "chirpstack")} == {"AM319"}


def test_reporting_intervals_keep_a_month_of_backfill_small() -> None:
    per_day = sum(86400 / s.interval_s * (2 if s.format == "shelly-gen1" else 1) for s in FLEET.sensors)
    assert per_day * 30 < 150_000  # messages for `citysense backfill --days 30`
    assert all(s.interval_s == 3600 for s in FLEET.sensors if s.format == "telraam")


def test_ids_follow_the_source_device_rule() -> None:
    prefixes = {"tasmota": "tasmota:", "shelly-gen2-status": "shelly:", "shelly-gen2-rpc": "shelly:",
                "shelly-gen1": "shelly:", "dsmr": "dsmr:", "zigbee2mqtt": "zigbee2mqtt:",
                "sensor-community": "sensor.community:esp", "ttn": "ttn:", "chirpstack": "chirpstack:",
                "telraam": "telraam:", "senml": "senml:urn:dev:"}
    for s in FLEET.sensors:
        assert s.id.startswith(prefixes[s.format]), s.id


def test_records_round_trip() -> None:
    again = from_records(to_records(FLEET), FLEET.name)
    assert again == FLEET


def _doc(**overrides: Any) -> dict[str, Any]:
    sensor: dict[str, Any] = {
        "id": "tasmota:pow1", "kind": "energy", "format": "tasmota", "model": "Sonoff POW R2",
        "district": "Leuven", "lat": 50.879, "lon": 4.701, "private": True, "interval": "10m",
    }
    for key, value in overrides.items():
        if value is None:
            sensor.pop(key, None)
        else:
            sensor[key] = value
    return {"sensor": [sensor]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"district": "Heverle"},
         "sensor 1 (tasmota:pow1): unknown district 'Heverle'; expected one of Leuven, Heverlee, Kessel-Lo, "
         "Wilsele, Wijgmaal"),
        ({"format": "tasmoda"},
         "sensor 1 (tasmota:pow1): unknown format 'tasmoda'; expected one of tasmota, shelly-gen2-status, "
         "shelly-gen2-rpc, shelly-gen1, dsmr, zigbee2mqtt, sensor-community, ttn, chirpstack, telraam, senml"),
        ({"kind": "water"},
         "sensor 1 (tasmota:pow1): unknown kind 'water'; expected one of energy, air, mobility, bin"),
        ({"format": "telraam"},
         "sensor 1 (tasmota:pow1): format 'telraam' does not carry kind 'energy' (it carries mobility)"),
        ({"id": "shelly:pow1"}, "sensor 1 (shelly:pow1): id must be 'tasmota:<device>' for format 'tasmota'"),
        ({"id": "pow1"}, "sensor 1 (pow1): id must be 'tasmota:<device>' for format 'tasmota'"),
        ({"id": "tasmota:pow/1"},
         "sensor 1 (tasmota:pow/1): device 'pow/1' is not a valid tasmota device name "
         "(a name without '/', '+', '#' or spaces)"),
        ({"lat": 51.2}, "sensor 1 (tasmota:pow1): lat 51.2 is outside Leuven (50.8..50.97)"),
        ({"lon": "4.7"}, "sensor 1 (tasmota:pow1): 'lon' must be a number"),
        ({"district": None}, "sensor 1 (tasmota:pow1): missing field 'district'"),
        ({"interval": "5 minutes"},
         "sensor 1 (tasmota:pow1): interval '5 minutes' is not a duration (use e.g. 300, \"90s\", \"10m\", \"1h\")"),
        ({"interval": 5}, "sensor 1 (tasmota:pow1): interval must be at least 10 s, got 5 s"),
        ({"private": "yes"}, "sensor 1 (tasmota:pow1): 'private' must be true or false"),
        ({"colour": "red"},
         "sensor 1 (tasmota:pow1): unknown field(s) colour; allowed: id, kind, format, model, district, lat, lon, "
         "private, interval, metadata"),
        ({"metadata": "x"}, "sensor 1 (tasmota:pow1): 'metadata' must be a table"),
    ],
)
def test_validation_messages(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(FleetError) as exc:
        parse_fleet(_doc(**overrides))
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("sensor", "message"),
    [
        ({"id": "ttn:eui-24e124136c225101", "kind": "bin", "format": "ttn", "model": "EM310-UDL"},
         "sensor 1 (ttn:eui-24e124136c225101): bins need metadata.depth_mm, the sensor-to-bottom depth in mm "
         "(200..4500), got None"),
        ({"id": "ttn:eui-24e124136c225101", "kind": "bin", "format": "ttn", "model": "EM300",
          "metadata": {"depth_mm": 1000}},
         "sensor 1 (ttn:eui-24e124136c225101): unknown model 'EM300' for format 'ttn'; expected one of AM319, "
         "EM310-UDL"),
        ({"id": "ttn:eui-24e124136c225101", "kind": "bin", "format": "ttn", "model": "AM319",
          "metadata": {"depth_mm": 1000}},
         "sensor 1 (ttn:eui-24e124136c225101): model 'AM319' measures kind 'air', not 'bin'"),
        ({"id": "chirpstack:24E124136C225101", "kind": "bin", "format": "chirpstack", "model": "EM310-UDL",
          "metadata": {"depth_mm": 1000}},
         "sensor 1 (chirpstack:24E124136C225101): device '24E124136C225101' is not a valid chirpstack device name "
         "(the DevEUI as 16 lowercase hex digits)"),
        ({"id": "telraam:348917", "kind": "mobility", "format": "telraam", "interval": "15m"},
         "sensor 1 (telraam:348917): format 'telraam' reports every 3600 s, not every 900 s"),
        ({"id": "sensor.community:12345", "kind": "air", "format": "sensor-community"},
         "sensor 1 (sensor.community:12345): device '12345' is not a valid sensor-community device name "
         "(esp8266-<chip id> or esp32-<chip id>)"),
    ],
)
def test_validation_of_format_specific_rules(sensor: dict[str, Any], message: str) -> None:
    doc = _doc(**{k: v for k, v in sensor.items()})
    doc["sensor"][0].pop("private")
    with pytest.raises(FleetError) as exc:
        parse_fleet(doc)
    assert str(exc.value) == message


def test_duplicate_ids_are_refused() -> None:
    doc = _doc()
    doc["sensor"].append(dict(doc["sensor"][0]))
    with pytest.raises(FleetError) as exc:
        parse_fleet(doc)
    assert str(exc.value) == "sensor 2: duplicate id 'tasmota:pow1' (first at sensor 1)"


def test_empty_and_unknown_top_level() -> None:
    with pytest.raises(FleetError, match=r"^fleet: no sensors \(add \[\[sensor\]\] tables\)$"):
        parse_fleet({})
    with pytest.raises(FleetError, match=r"^fleet: unknown top-level key\(s\) sensors"):
        parse_fleet({"sensors": []})
    with pytest.raises(FleetError, match=r"^fleet: \[defaults\] may set interval and private, not kind$"):
        parse_fleet({"defaults": {"kind": "air"}, **_doc()})


def test_defaults_apply_and_toml_errors_are_reported() -> None:
    fleet = parse_fleet_text(
        '[defaults]\ninterval = "5m"\nprivate = true\n[[sensor]]\nid = "tasmota:x"\nkind = "air"\n'
        'format = "tasmota"\ndistrict = "Wijgmaal"\nlat = 50.927\nlon = 4.70\n'
    )
    assert fleet.sensors[0].interval_s == 300
    assert fleet.sensors[0].private
    with pytest.raises(FleetError, match=r"^f.toml: not valid TOML: "):
        parse_fleet_text("[[sensor]\n", "f.toml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=r"^cannot read fleet file '.*nope.toml': No such file or directory$"):
        load_fleet(tmp_path / "nope.toml")


@pytest.mark.parametrize(("raw", "seconds"), [(300, 300), ("90s", 90), ("10m", 600), ("1h", 3600), ("2", 2),
                                                ("1.5h", 5400), (600.0, 600)])
def test_parse_interval(raw: object, seconds: int) -> None:
    assert parse_interval(raw) == seconds


@pytest.mark.parametrize("raw", [True, "10 mins", "0.5s", [], 1.5])
def test_parse_interval_rejects(raw: object) -> None:
    with pytest.raises(ValueError, match=r"duration|whole number"):
        parse_interval(raw)
