from __future__ import annotations

import pytest

from ingest.attribution import sensor_of_topic


@pytest.mark.parametrize(
    ("topic", "sensor"),
    [
        ("citysense/json/plug-7", "citysense:plug-7"),
        ("tele/pow1/SENSOR", "tasmota:pow1"),
        ("home/tele/pow1/SENSOR", "tasmota:pow1"),
        ("pow1/tele/SENSOR", "tasmota:pow1"),
        ("shellies/shellyplug-s-1A2B3C/relay/0/power", "shelly:shellyplug-s-1A2B3C"),
        ("shellyplus1pm-a8032ab12345/status/switch:0", "shelly:shellyplus1pm-a8032ab12345"),
        ("shellyplus1pm-a8032ab12345/events/rpc", "shelly:shellyplus1pm-a8032ab12345"),
        ("airrohr/esp8266-12345", "sensor.community:esp8266-12345"),
        ("v3/leuven@ttn/devices/eui-1000000000000001/up", "ttn:eui-1000000000000001"),
        ("application/7/device/A84041000181C2B7/event/up", "chirpstack:a84041000181c2b7"),
        ("telraam/348917/traffic", "telraam:348917"),
        ("zigbee2mqtt/kitchen-plug", "zigbee2mqtt:kitchen-plug"),
        ("zigbee2mqtt/bridge/state", None),
        ("dsmr/meter", None),
        ("citysense/senml/x", None),
        ("nobody/listens/here", None),
    ],
)
def test_the_topic_names_the_sensor_the_decoder_would(topic: str, sensor: str | None) -> None:
    assert sensor_of_topic(topic) == sensor
