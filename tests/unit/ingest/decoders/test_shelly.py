from __future__ import annotations

import orjson
import pytest

from ingest.decoders.shelly import FORMAT_GEN1, FORMAT_GEN2, decode_gen1, decode_gen2
from ingest.errors import DecodeError
from tests.unit.ingest.decoders.helpers import CTX, assert_readings, payload, utc

PLUS1PM = "shelly:shellies/plus1pm"
PRO3EM = "shelly:aiida/12345678-1234-1234-1234-123456789abc"


# --- Gen2 -------------------------------------------------------------------------------------


def test_switch_status_has_no_time_and_no_relay_temperature() -> None:
    got = decode_gen2("shellies/plus1pm/status/switch:0", payload("shelly-gen2__plus1pm-status-switch0-init.json"), CTX)
    assert_readings(got, [
        (PLUS1PM, "power", 0.0, None),
        (PLUS1PM, "voltage", 232.7, None),
        (PLUS1PM, "current", 0.0, None),
        (PLUS1PM, "energy_import", 0.0, None),  # aenergy.total in Wh → kWh
    ])


def test_notifystatus_partial_update_emits_only_present_fields() -> None:
    got = decode_gen2("shellies/plus1pm/events/rpc",
                      payload("shelly-gen2__plus1pm-events-rpc-notifystatus-aenergy-delta.json"), CTX)
    assert_readings(got, [(PLUS1PM, "energy_import", 0.0, utc(2022, 8, 26, 12, 37, 1, 440000))])


def test_notifystatus_with_only_the_relay_temperature_has_no_readings() -> None:
    body = payload("shelly-gen2__plus1pm-events-rpc-notifystatus-temperature-delta.json")
    assert decode_gen2("shellies/plus1pm/events/rpc", body, CTX) == []


def test_plus_ht_full_status() -> None:
    t = utc(2023, 1, 23, 11, 28, 24, 120000)
    s = "shelly:shelly-ht/shelly-plus-ht-01"
    got = decode_gen2("shelly-ht/shelly-plus-ht-01/events/rpc",
                      payload("shelly-gen2__plusht-events-rpc-notifyfullstatus.json"), CTX)
    assert_readings(got, [
        (s, "temperature", 19.9, t),
        (s, "humidity", 54.3, t),
        (s, "battery", 100, t),
    ])


def test_pro3em_notify_em_drops_frequency_of_dead_phases_and_null_neutral() -> None:
    t = utc(2025, 9, 5, 8, 10, 29, 80000)
    got = decode_gen2("aiida/12345678-1234-1234-1234-123456789abc/events/rpc",
                      payload("shelly-gen2__pro3em-events-rpc-notifystatus-em0.json"), CTX)
    l1, l2, l3 = PRO3EM + ":l1", PRO3EM + ":l2", PRO3EM + ":l3"
    assert_readings(got, [
        (PRO3EM, "power", -18.017, t),
        (PRO3EM, "apparent_power", 108.708, t),
        (PRO3EM, "current", 0.531, t),
        (l1, "power", 0, t), (l1, "apparent_power", 0, t), (l1, "current", 0.027, t),
        (l1, "voltage", 0, t), (l1, "power_factor", 1, t),  # no a_freq 198 Hz: the phase has 0 V
        (l2, "power", 0, t), (l2, "apparent_power", 0, t), (l2, "current", 0.027, t),
        (l2, "voltage", 0, t), (l2, "power_factor", 1, t),
        (l3, "power", -18, t), (l3, "apparent_power", 108.7, t), (l3, "current", 0.476, t),
        (l3, "voltage", 228.3, t), (l3, "power_factor", 0.55, t), (l3, "frequency", 50, t),
    ])


def test_pro3em_emdata_counters_in_kwh() -> None:
    t = utc(2025, 9, 5, 8, 18, 0, 210000)
    got = decode_gen2("aiida/12345678-1234-1234-1234-123456789abc/events/rpc",
                      payload("shelly-gen2__pro3em-events-rpc-notifystatus-emdata0.json"), CTX)
    l1, l2, l3 = PRO3EM + ":l1", PRO3EM + ":l2", PRO3EM + ":l3"
    assert_readings(got, [
        (PRO3EM, "energy_import", 26.28957, t),
        (PRO3EM, "energy_export", 131.88186, t),
        (l1, "energy_import", 0.00006, t), (l1, "energy_export", 0.0, t),
        (l2, "energy_import", 0.00006, t), (l2, "energy_export", 0.00001, t),
        (l3, "energy_import", 26.28944, t), (l3, "energy_export", 131.88185, t),
    ])


def test_pro3em_status_em0_pretty() -> None:
    s = "shelly:shellies/shellypro3em-00000000000"
    got = decode_gen2("shellies/shellypro3em-00000000000/status/em:0",
                      payload("own__shelly-pro3em-status-em0-pretty.json"), CTX)
    rows = [
        (s, "power", 778.8, None), (s, "apparent_power", 1039.4, None), (s, "current", 4.503, None),
    ]
    for phase, vals in (("l1", (212.4, 279.1, 1.204, 231.8, 0.76)), ("l2", (-75.3, 89.0, 0.388, 229.4, -0.85)),
                        ("l3", (641.7, 671.3, 2.911, 230.6, 0.96))):
        for metric, v in zip(("power", "apparent_power", "current", "voltage", "power_factor"), vals, strict=True):
            rows.append((f"{s}:{phase}", metric, v, None))
        rows.append((f"{s}:{phase}", "frequency", 49.98, None))
    assert_readings(got, rows)


def test_channel_above_zero_gets_its_own_sensor() -> None:
    body = b'{"id":1,"apower":12.5,"aenergy":{"total":1500.0}}'
    assert_readings(decode_gen2("shellyplus2pm-c4dd57/status/switch:1", body, CTX), [
        ("shelly:shellyplus2pm-c4dd57:switch:1", "power", 12.5, None),
        ("shelly:shellyplus2pm-c4dd57:switch:1", "energy_import", 1.5, None),
    ])


def test_returned_energy_frequency_and_power_factor() -> None:
    body = b'{"id":0,"freq":50.01,"pf":-0.97,"ret_aenergy":{"total":2500.0}}'
    assert_readings(decode_gen2("pm-mini/status/pm1:0", body, CTX), [
        ("shelly:pm-mini", "frequency", 50.01, None),
        ("shelly:pm-mini", "power_factor", -0.97, None),
        ("shelly:pm-mini", "energy_export", 2.5, None),
    ])


def test_null_fields_are_not_readings() -> None:
    body = b'{"id":0,"apower":null,"voltage":230.1,"aenergy":null}'
    assert_readings(decode_gen2("p/status/switch:0", body, CTX), [("shelly:p", "voltage", 230.1, None)])


def test_counter_reset_is_data_not_an_error() -> None:
    before = decode_gen2("p/status/switch:0", b'{"aenergy":{"total":5000.0}}', CTX)
    after = decode_gen2("p/status/switch:0", b'{"aenergy":{"total":12.0}}', CTX)
    assert [r.value for r in before + after] == pytest.approx([5.0, 0.012])


@pytest.mark.parametrize("component", ["sys", "wifi", "cloud", "input:0", "ble", "switch:²", "switch:x"])
def test_components_without_measurements(component: str) -> None:
    assert decode_gen2(f"shellyplus1-a8/status/{component}", b'{"anything":1}', CTX) == []


def test_notify_event_has_no_readings() -> None:
    body = b'{"src":"x","method":"NotifyEvent","params":{"ts":1.0,"events":[{"event":"single_push"}]}}'
    assert decode_gen2("x/events/rpc", body, CTX) == []


def test_em1_and_em1data() -> None:
    em1 = b'{"id":0,"current":2.1,"voltage":229.9,"act_power":-450.0,"aprt_power":480.2,"pf":-0.94,"freq":50.0}'
    data = b'{"id":1,"total_act_energy":1200.0,"total_act_ret_energy":3400.0}'
    assert_readings(decode_gen2("proem/status/em1:0", em1, CTX) + decode_gen2("proem/status/em1data:1", data, CTX), [
        ("shelly:proem", "current", 2.1, None),
        ("shelly:proem", "voltage", 229.9, None),
        ("shelly:proem", "power", -450.0, None),
        ("shelly:proem", "apparent_power", 480.2, None),
        ("shelly:proem", "power_factor", -0.94, None),
        ("shelly:proem", "frequency", 50.0, None),
        ("shelly:proem:em1data:1", "energy_import", 1.2, None),
        ("shelly:proem:em1data:1", "energy_export", 3.4, None),
    ])


@pytest.mark.parametrize(("topic", "body", "message"), [
    ("x/events/rpc", b'{"params":{}}', "with a 'method'"),
    ("x/events/rpc", b'{"method":"NotifyStatus","params":[]}', "'params' must be a JSON object"),
    ("x/events/rpc", b'{"method":"NotifyStatus","params":{"ts":"now"}}', "params.ts: 'now' is not a number"),
    ("x/events/rpc", b'{"method":"NotifyStatus","params":{"switch:0":7}}', "switch:0: component status must be"),
    ("x/status/switch:0", b'{"apower":"a lot"}', "apower: 'a lot' is not a number"),
    ("x/status/switch:0", b'{"aenergy":5}', "aenergy: expected an object"),
    ("x/status/switch:0", b"not json", "invalid JSON"),
])
def test_gen2_bad_payloads(topic: str, body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_gen2(topic, body, CTX)


# --- Gen1 -------------------------------------------------------------------------------------


def test_gen1_relay_power() -> None:
    got = decode_gen1("shellies/shelly-plug-s1/relay/0/power", payload("shelly-gen1__plug-s-relay0-power.txt"), CTX)
    assert_readings(got, [("shelly:shelly-plug-s1", "power", 20.58, None)])


def test_gen1_relay_energy_is_in_watt_minutes() -> None:
    got = decode_gen1("shellies/shelly-plug-s1/relay/0/energy",
                      payload("shelly-gen1__plug-s-relay0-energy-wattminutes.txt"), CTX)
    assert_readings(got, [("shelly:shelly-plug-s1", "energy_import", 94736 / 60 / 1000, None)])


@pytest.mark.parametrize(("leaf", "body", "metric", "value"), [
    ("power", b"-312.4", "power", -312.4),
    ("reactive_power", b"12.1", "reactive_power", 12.1),
    ("voltage", b"231.20", "voltage", 231.2),
    ("current", b"1.37", "current", 1.37),
    ("pf", b"0.91", "power_factor", 0.91),
    ("total", b"123456.7", "energy_import", 123.4567),  # Wh
    ("total_returned", b"7654.3", "energy_export", 7.6543),
])
def test_gen1_emeter(leaf: str, body: bytes, metric: str, value: float) -> None:
    assert_readings(decode_gen1(f"shellies/shellyem3-e8db84/emeter/0/{leaf}", body, CTX),
                    [("shelly:shellyem3-e8db84", metric, value, None)])


def test_gen1_channels_above_zero() -> None:
    assert decode_gen1("shellies/shellyem3-e8/emeter/2/power", b"5", CTX)[0].sensor_id == "shelly:shellyem3-e8:emeter:2"
    assert decode_gen1("shellies/shelly25-ab/relay/1/power", b"5", CTX)[0].sensor_id == "shelly:shelly25-ab:relay:1"


@pytest.mark.parametrize("body", [b"on", b"", b"nan", b"inf", b"\xff\xfe", b"12 W"])
def test_gen1_values_that_are_not_numbers(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_gen1("shellies/plug/relay/0/power", body, CTX)


def test_topics() -> None:
    assert FORMAT_GEN1.matches("shellies/plug/relay/0/power")
    assert not FORMAT_GEN1.matches("shellies/plug/relay/0")  # on/off state
    assert not FORMAT_GEN1.matches("shellies/plug/emeter/0/energy")  # watt-minutes since boot: not stored
    assert FORMAT_GEN2.matches("shellyplus1pm-a8032ab12345/status/switch:0")
    assert FORMAT_GEN2.matches("shellies/plus1pm/status/switch:0")
    assert FORMAT_GEN2.matches("aiida/1234/events/rpc")
    assert not FORMAT_GEN2.matches("shellyplus1pm-a8032ab12345/online")
    assert not FORMAT_GEN2.matches("status/switch:0")


def test_notifystatus_to_json_roundtrip_of_several_components() -> None:
    doc = {"method": "NotifyStatus", "params": {"ts": 1700000000.5, "switch:0": {"apower": 10},
                                                "switch:1": {"apower": 20}, "sys": {"uptime": 5}}}
    t = utc(2023, 11, 14, 22, 13, 20, 500000)
    assert_readings(decode_gen2("plus2pm/events/rpc", orjson.dumps(doc), CTX), [
        ("shelly:plus2pm", "power", 10, t),
        ("shelly:plus2pm:switch:1", "power", 20, t),
    ])
