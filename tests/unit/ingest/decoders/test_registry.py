"""Which format each device's topic reaches, and that ingest's default subscriptions reach it."""

from __future__ import annotations

import pytest

from ingest.decoders.registry import FORMATS, decode, default_subscriptions, format_for
from ingest.errors import UnknownTopic
from tests.unit.ingest.decoders.helpers import CTX, payload

# Every reference payload's topic (as its source shows it, or the platform's convention) → format.
REFERENCE_TOPICS = [
    ("tele/pow1/SENSOR", "tasmota", "tasmota__sonoff-pow-r2-energy.json"),
    ("emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR", "tasmota", "tasmota__teleinfo-energy-period-space.json"),
    ("tele/sonoff_desk/SENSOR", "tasmota", "own__tasmota-energy-plug.json"),
    ("tele/hichi/SENSOR", "tasmota", None),
    ("tele/tasmota/SENSOR", "tasmota", "tasmota__bme280-pretty.json"),
    ("tele/snifferbuddy/SENSOR", "tasmota", "tasmota__scd30-co2-fahrenheit.json"),
    ("tele/node_mcu_terrace/SENSOR", "tasmota", "own__tasmota-bme280-sds0x1.json"),
    ("shellies/plus1pm/status/switch:0", "shelly-gen2", "shelly-gen2__plus1pm-status-switch0-init.json"),
    ("shellies/plus1pm/events/rpc", "shelly-gen2", "shelly-gen2__plus1pm-events-rpc-notifystatus-aenergy-delta.json"),
    ("shelly-ht/shelly-plus-ht-01/events/rpc", "shelly-gen2", "shelly-gen2__plusht-events-rpc-notifyfullstatus.json"),
    ("shellies/shellypro3em-00000000000/status/em:0", "shelly-gen2", "own__shelly-pro3em-status-em0-pretty.json"),
    ("aiida/12345678-1234-1234-1234-123456789abc/events/rpc", "shelly-gen2",
     "shelly-gen2__pro3em-events-rpc-notifystatus-em0.json"),
    ("shellyplus1pm-a8032ab12345/status/switch:0", "shelly-gen2", None),
    ("shellies/shelly-plug-s1/relay/0/power", "shelly-gen1", "shelly-gen1__plug-s-relay0-power.txt"),
    ("shellies/shelly-plug-s1/relay/0/energy", "shelly-gen1", "shelly-gen1__plug-s-relay0-energy-wattminutes.txt"),
    ("dsmr/raw", "dsmr", "dsmr-p1__be-fluvius-v171-telegram.txt"),
    ("airrohr/esp8266-12331981", "sensor.community", "sensor-community__sds011-bme280-custom-api-push.json"),
    ("telraam/348917/traffic", "telraam", "telraam__api-v1-reports-traffic-segment348917-leuven.json"),
    ("citysense/senml/dev1", "senml", "senml__rfc8428-5.1.1-single-datapoint.json"),
    ("citysense/json/dev1", "citysense-json", None),
    ("v3/app1@tenant1/devices/dev1/up", "ttn-v3", None),
    ("v3/application-tts-name@ttn/devices/eui-1000000000000001/up", "ttn-v3",
     "ttn-v3__milesight-em310-udl-bin-raw.json"),
    ("application/ca739e26-7b67-4f14-b69e-d568c22a5a75/device/1000000000000001/event/up", "chirpstack-v4",
     "chirpstack-v4__milesight-em310-udl-bin-raw.json"),
    ("zigbee2mqttcc1352/plug_zigbee23", "zigbee2mqtt", "own__zigbee2mqtt-plug-energy.json"),
    ("zigbee2mqtt/Linky", "zigbee2mqtt", "own__zigbee2mqtt-linky-tiers.json"),
    ("zigbee2mqtt/0x54ef441000107069", "zigbee2mqtt", "own__zigbee2mqtt-aqara-air-battery-voltage.json"),
]

# Topics the patterns of several formats accept: the specific format must win over Shelly Gen2's.
OVERLAPS = [
    ("dsmr/p1/status/switch:0", "dsmr"),
    ("zigbee2mqtt/lamp/status/x", "zigbee2mqtt"),
    ("citysense/senml/a/status/switch:0", "senml"),
    ("dsmr/events/rpc", "dsmr"),
    ("dsmr/tele/x/SENSOR", "dsmr"),
    ("tele/x/status/switch:0", "shelly-gen2"),
    ("x/status/tele/SENSOR", "tasmota"),
]


@pytest.mark.parametrize(("topic", "name", "fixture"), REFERENCE_TOPICS)
def test_reference_topics_route_to_their_format(topic: str, name: str, fixture: str | None) -> None:
    assert format_for(topic).name == name
    if fixture is not None:
        assert decode(topic, payload(fixture), CTX), "the fixture decodes to readings through the registry"


@pytest.mark.parametrize(("topic", "name"), OVERLAPS)
def test_specific_formats_come_before_generic_ones(topic: str, name: str) -> None:
    assert format_for(topic).name == name


@pytest.mark.parametrize("topic", ["zigbee2mqtt/bridge/state", "zigbee2mqtt/lamp/availability", "foo/bar",
                                   "shellies/plug/relay/0", "v3/a/devices/d/join", ""])
def test_unknown_topics(topic: str) -> None:
    with pytest.raises(UnknownTopic):
        format_for(topic)


def _filter_matches(sub: str, topic: str) -> bool:
    """MQTT topic filter semantics: + is one level, # the rest (including none)."""
    f, t = sub.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


# A custom Zigbee2MQTT base topic cannot be wildcarded (MQTT has no `zigbee2mqtt*/`): it needs its own
# subscription, configured with ingest.
CUSTOM_BASE = "zigbee2mqttcc1352/plug_zigbee23"


@pytest.mark.parametrize("topic", [t for t, _, _ in REFERENCE_TOPICS if t != CUSTOM_BASE])
def test_default_subscriptions_receive_the_reference_topics(topic: str) -> None:
    assert any(_filter_matches(sub, topic) for sub in default_subscriptions())


def test_custom_zigbee2mqtt_base_is_not_subscribed_by_default() -> None:
    assert not any(_filter_matches(sub, CUSTOM_BASE) for sub in default_subscriptions())


def test_every_format_subscribes_and_describes_itself() -> None:
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))
    for fmt in FORMATS:
        assert fmt.subscriptions
        assert fmt.description
        assert "\n" not in fmt.description
