"""Simulated values → the exact MQTT messages real devices publish. Pure.

Each encoder writes its vendor's payload the way the device does (the reference
payloads in /work/shared/reference/device-payloads are the templates: same keys,
key order, nesting, number formatting, units and time formats), and states the
readings ingest must decode from it: the values as written in the payload (after
the device's rounding, converted to canonical units) and the time the payload
carries (None when it carries none, so ingest stamps the receive time).

Units that trip people up, as the devices have them: Tasmota `Time` is local time
without a zone, Shelly Gen1 relay energy is in watt-minutes, Shelly Gen2
`aenergy.total` in Wh, Sensor.Community values are strings and its pressure is in
Pa, DSMR timestamps are local YYMMDDhhmmss with S/W and the telegram ends in a
CRC-16/ARC, The Things Stack times are RFC 3339 with nanoseconds.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from ingest.decoders.dsmr import crc16
from models.reading import Reading
from simulators.fleet import Sensor

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    readings: tuple[Reading, ...]  # what ingest decodes from it; time None = receive time
    delay_s: float  # publish time minus measurement time (network, gateway, API polling)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement of one sensor, as the encoders take it."""

    sensor: Sensor
    t: int  # UTC epoch seconds
    index: int  # the sample's number on the sensor's grid (frame counters, ids)
    values: Mapping[str, float]
    u: Sequence[float]  # uniforms in [0, 1) for this message's incidental randomness (radio, jitter)
    tz: ZoneInfo = BRUSSELS  # the zone of device clocks that keep local time (ingest's CITYSENSE_TIMEZONE)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _local(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def as_decoded_local(local: datetime, tz: ZoneInfo) -> datetime:
    """What a zone-less local time means to ingest: the earlier hour when the clock is ambiguous (the
    autumn fold), as `datetime` and ingest resolve it. A device without a zone really loses that hour."""
    return local.replace(tzinfo=None).replace(tzinfo=tz, fold=0).astimezone(UTC)


def _num(value: float, decimals: int) -> tuple[str, float]:
    """The value as the device prints it, and what that text parses back to."""
    text = f"{value:.{decimals}f}" if decimals > 0 else str(round(value))
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text, float(text)


# --- Tasmota --------------------------------------------------------------------------------------


def _dew_point(t: float, rh: float) -> float:
    g = math.log(max(rh, 1.0) / 100.0) + 17.62 * t / (243.12 + t)
    return 243.12 * g / (17.62 - g)


def tasmota(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    local = _local(s.t, s.tz)
    when = as_decoded_local(local, s.tz)
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
    out: list[Reading] = []

    def put(metric: str, value: float, decimals: int) -> str:
        text, parsed = _num(value, decimals)
        out.append(Reading(sid, metric, parsed, when))
        return text

    if s.sensor.kind == "energy":
        since = _local(int(v["counter_since"]), s.tz).strftime("%Y-%m-%dT%H:%M:%S")
        total = put("energy_import", v["energy_import"], 3)
        yesterday = _num(v["yesterday"], 3)[0]
        today = _num(v["today"], 3)[0]
        period = _num(v["period_wh"], 0)[0]
        power = put("power", max(v["power"], 0.0), 0)
        apparent = put("apparent_power", v["apparent_power"], 0)
        reactive = put("reactive_power", v["reactive_power"], 0)
        factor = put("power_factor", v["power_factor"], 2)
        voltage = put("voltage", v["voltage"], 0)
        current = put("current", v["current"], 3)
        body = (
            f'{{"Time":"{stamp}","ENERGY":{{"TotalStartTime":"{since}","Total":{total},'
            f'"Yesterday":{yesterday},"Today":{today},"Period":{period},"Power":{power},'
            f'"ApparentPower":{apparent},"ReactivePower":{reactive},"Factor":{factor},'
            f'"Voltage":{voltage},"Current":{current}}}}}'
        )
    else:
        temp = put("temperature", v["temperature"], 1)
        hum = put("humidity", v["humidity"], 1)
        dew = _num(_dew_point(float(temp), float(hum)), 1)[0]
        pres = put("pressure", v["pressure"], 1)
        pm25 = put("pm25", v["pm25"], 1)
        pm10 = put("pm10", v["pm10"], 1)
        body = (
            f'{{"Time":"{stamp}","BME280":{{"Temperature":{temp},"Humidity":{hum},"DewPoint":{dew},'
            f'"Pressure":{pres}}},"SDS0X1":{{"PM2.5":{pm25},"PM10":{pm10}}},'
            f'"PressureUnit":"hPa","TempUnit":"C"}}'
        )
    return [Message(f"tele/{s.sensor.device}/SENSOR", body.encode(), tuple(out), 0.05 + 0.3 * s.u[0])]


# --- Shelly ----------------------------------------------------------------------------------------


def _by_minute(power: float) -> str:
    mwh = max(power, 0.0) * 1000.0 / 60.0
    return ",".join(_num(mwh * f, 3)[0] for f in (0.98, 1.01, 0.99))


def shelly_gen2_status(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    out: list[Reading] = []

    def put(metric: str, value: float, decimals: int, scale: float = 1.0) -> str:
        text, parsed = _num(value, decimals)
        out.append(Reading(sid, metric, parsed * scale, None))
        return text

    apower = put("power", max(v["power"], 0.0), 1)
    voltage = put("voltage", v["voltage"], 1)
    current = put("current", v["current"], 3)
    total = put("energy_import", v["energy_import"] * 1000.0, 3, 0.001)  # Wh on the wire
    relay = 38.0 + 6.0 * s.u[1] + max(v["power"], 0.0) / 400.0
    body = (
        f'{{"id":0, "source":"timer", "output":true, "apower":{apower}, "voltage":{voltage}, '
        f'"current":{current}, "aenergy":{{"total":{total},"by_minute":[{_by_minute(v["power"])}],'
        f'"minute_ts":{s.t - s.t % 60}}},"temperature":{{"tC":{relay:.1f}, "tF":{relay * 1.8 + 32:.1f}}}}}'
    )
    return [Message(f"{s.sensor.device}/status/switch:0", body.encode(), tuple(out), 0.1 + 0.2 * s.u[0])]


def shelly_gen2_rpc(s: Sample) -> list[Message]:
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    ts_text = f"{s.t + 0.01 * int(s.u[2] * 100):.2f}"
    when = utc(float(ts_text))
    out: list[Reading] = []

    def put(metric: str, value: float, decimals: int, scale: float = 1.0) -> str:
        text, parsed = _num(value, decimals)
        out.append(Reading(sid, metric, parsed * scale, when))
        return text

    apower = put("power", max(v["power"], 0.0), 1)
    current = put("current", v["current"], 3)
    voltage = put("voltage", v["voltage"], 1)
    total = put("energy_import", v["energy_import"] * 1000.0, 3, 0.001)
    body = (
        f'{{"src":"{dev}","dst":"{dev}/events","method":"NotifyStatus","params":{{"ts":{ts_text},'
        f'"switch:0":{{"id":0,"apower":{apower},"current":{current},"voltage":{voltage},'
        f'"aenergy":{{"by_minute":[{_by_minute(v["power"])}],"minute_ts":{s.t - s.t % 60},"total":{total}}}}}}}}}'
    )
    return [Message(f"{dev}/events/rpc", body.encode(), tuple(out), 0.1 + 0.2 * s.u[0])]


def shelly_gen1(s: Sample) -> list[Message]:
    """Gen1 relays publish bare numbers, one topic per quantity; energy counts watt-minutes."""
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    power_text, power = _num(max(v["power"], 0.0), 2)
    wmin_text, wmin = _num(v["energy_import"] * 60000.0, 0)
    delay = 0.1 + 0.2 * s.u[0]
    return [
        Message(f"shellies/{dev}/relay/0/power", power_text.encode(), (Reading(sid, "power", power, None),), delay),
        Message(f"shellies/{dev}/relay/0/energy", wmin_text.encode(),
                (Reading(sid, "energy_import", wmin * (1.0 / 60000.0), None),), delay + 0.002),
    ]


# --- DSMR P1 (Fluvius e-MUCS) ------------------------------------------------------------------------


# One CRC implementation for both directions: the decoder's. The simulator's telegrams are
# checked against a real meter's published CRC in tests/unit/simulators/test_encoders.py.
crc16_arc = crc16



def dsmr_stamp(t: int, tz: ZoneInfo) -> str:
    local = _local(t, tz)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _hex_id(text: str) -> str:
    return text.encode("ascii").hex().upper()


def dsmr(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    when = utc(s.t)
    phases = int(s.sensor.meta("phases", 1))
    out: list[Reading] = []
    t1_text, t1 = _num(v["import_t1"], 3)
    t2_text, t2 = _num(v["import_t2"], 3)
    e1_text, e1 = _num(v["export_t1"], 3)
    e2_text, e2 = _num(v["export_t2"], 3)
    net_kw = v["power"] / 1000.0
    imp_text, imp = _num(max(net_kw, 0.0), 3)
    exp_text, exp = _num(max(-net_kw, 0.0), 3)
    out += [
        Reading(sid, "energy_import", sum([t1, t2]), when),
        Reading(sid, "energy_export", sum([e1, e2]), when),
        Reading(sid, "power", imp * 1000.0 - exp * 1000.0, when),
    ]
    shares = (1.0,) if phases == 1 else (0.31, 0.44, 0.25)
    lines_in, lines_out, lines_v, lines_a = [], [], [], []
    for i, share in enumerate(shares):
        n = (2, 4, 6)[i]
        pi_text, pi = _num(max(net_kw, 0.0) * share, 3)
        po_text, po = _num(max(-net_kw, 0.0) * share, 3)
        volt_text, volt = _num(v["voltage"] + (0.0, -1.6, 0.9)[i], 1)
        amp_text, amp = _num(v["current"] * share, 2)
        sub = f"{sid}:l{i + 1}"
        out += [
            Reading(sub, "power", pi * 1000.0 - po * 1000.0, when),
            Reading(sub, "voltage", volt, when),
            Reading(sub, "current", amp, when),
        ]
        lines_in.append(f"1-0:{n}1.7.0({pi_text:0>6}*kW)")
        lines_out.append(f"1-0:{n}2.7.0({po_text:0>6}*kW)")
        lines_v.append(f"1-0:{n + 1}2.7.0({volt_text:0>5}*V)")
        lines_a.append(f"1-0:{n + 1}1.7.0({amp_text:0>6}*A)")
    stamp = dsmr_stamp(s.t, s.tz)
    local = _local(s.t, s.tz)
    tariff = 1 if local.weekday() < 5 and 7 <= local.hour < 22 else 2
    month_start = int(local.replace(day=1, hour=0, minute=0, second=0).timestamp())
    peak_at = month_start + 18 * 3600 + 2700 + 86400 * (int(s.sensor.meta("peak_day", 3)) % 28)
    peak_at = min(peak_at, s.t - s.t % 900)
    peak_text = _num(float(s.sensor.meta("peak_w", 2400.0)) / 1000.0 * 1.1, 3)[0]
    demand_text = _num(max(net_kw, 0.0) * (0.85 + 0.3 * s.u[1]), 3)[0]
    lines = [
        f"/FLU5\\{253769000 + int(s.sensor.meta('serial_suffix', 484)):09d}_A",
        "",
        "0-0:96.1.4(50217)",
        f"0-0:96.1.1({_hex_id(s.sensor.device)})",
        f"0-0:1.0.0({stamp})",
        f"1-0:1.8.1({t1_text:0>10}*kWh)",
        f"1-0:1.8.2({t2_text:0>10}*kWh)",
        f"1-0:2.8.1({e1_text:0>10}*kWh)",
        f"1-0:2.8.2({e2_text:0>10}*kWh)",
        f"0-0:96.14.0({tariff:04d})",
        f"1-0:1.4.0({demand_text:0>6}*kW)",
        f"1-0:1.6.0({dsmr_stamp(peak_at, s.tz)})({peak_text:0>6}*kW)",
        f"0-0:98.1.0(1)(1-0:1.6.0)(1-0:1.6.0)({dsmr_stamp(month_start, s.tz)})"
        f"({dsmr_stamp(month_start - 86400 * 12 + 19 * 3600, s.tz)})({peak_text:0>6}*kW)",
        f"1-0:1.7.0({imp_text:0>6}*kW)",
        f"1-0:2.7.0({exp_text:0>6}*kW)",
        *lines_in, *lines_out, *lines_v, *lines_a,
        "0-0:96.3.10(1)",
        "0-0:17.0.0(999.9*kW)",
        "1-0:31.4.0(999*A)",
        "0-0:96.13.0()",
    ]
    if "gas_volume" in v:
        gas_at = int(v["gas_time"])
        gas_text, gas = _num(v["gas_volume"], 3)
        out.append(Reading(sid, "gas_volume", gas, utc(gas_at)))
        gas_id = str(s.sensor.meta("gas_meter_id", "7FLO" + s.sensor.device[-10:]))
        lines += [
            "0-1:24.1.0(003)",
            f"0-1:96.1.1({_hex_id(gas_id)})",
            "0-1:24.4.0(1)",
            f"0-1:24.2.3({dsmr_stamp(gas_at, s.tz)})({gas_text:0>9}*m3)",
        ]
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    telegram = body + f"{crc16_arc(body):04X}\r\n".encode("ascii")
    topic = str(s.sensor.meta("topic", f"dsmr/{s.sensor.device}"))
    return [Message(topic, telegram, tuple(out), 0.4 + 0.5 * s.u[0])]


# --- Zigbee2MQTT ------------------------------------------------------------------------------------


def zigbee2mqtt(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    local = _local(s.t, s.tz)
    last_seen = local.isoformat(timespec="seconds")
    when = utc(s.t)
    current_text, current = _num(v["current"], 2)
    energy_text, energy = _num(v["energy_import"], 2)
    power_text, power = _num(max(v["power"], 0.0), 0)
    volt_text, volt = _num(v["voltage"], 0)
    lq = 30 + int(s.u[1] * 150)
    body = (
        f'{{"child_lock":"UNLOCK","current":{current_text},"energy":{energy_text},"indicator_mode":null,'
        f'"last_seen":"{last_seen}","linkquality":{lq},"power":{power_text},"power_outage_memory":"on",'
        f'"state":"ON","update":{{"state":null}},"update_available":null,"voltage":{volt_text}}}'
    )
    readings = (
        Reading(sid, "power", power, when),
        Reading(sid, "current", current, when),
        Reading(sid, "energy_import", energy, when),
        Reading(sid, "voltage", volt, when),
    )
    return [Message(f"zigbee2mqtt/{s.sensor.device}", body.encode(), readings, 0.02 + 0.1 * s.u[0])]


# --- Sensor.Community ------------------------------------------------------------------------------


def sensor_community(s: Sample) -> list[Message]:
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    chip = dev.split("-", 1)[1]
    p1, pm10 = _num(v["pm10"], 2)
    p2, pm25 = _num(v["pm25"], 2)
    temp, temperature = _num(v["temperature"], 2)
    pres, pressure = _num(v["pressure"] * 100.0, 2)  # Pa on the wire
    hum, humidity = _num(v["humidity"], 2)
    signal = -60 - int(s.u[1] * 35)
    body = (
        f'{{"esp8266id": "{chip}", "software_version": "{s.sensor.meta("firmware", "NRZ-2020-129")}", '
        f'"sensordatavalues":[{{"value_type":"SDS_P1","value":"{p1}"}},{{"value_type":"SDS_P2","value":"{p2}"}},'
        f'{{"value_type":"BME280_temperature","value":"{temp}"}},'
        f'{{"value_type":"BME280_pressure","value":"{pres}"}},'
        f'{{"value_type":"BME280_humidity","value":"{hum}"}},'
        f'{{"value_type":"samples","value":"{4100000 + int(s.u[2] * 200000)}"}},'
        f'{{"value_type":"min_micro","value":"{28 + int(s.u[3] * 10)}"}},'
        f'{{"value_type":"max_micro","value":"{3300000 + int(s.u[4] * 20000)}"}},'
        f'{{"value_type":"signal","value":"{signal}"}}]}}'
    )
    readings = (
        Reading(sid, "pm10", pm10, None),
        Reading(sid, "pm25", pm25, None),
        Reading(sid, "temperature", temperature, None),
        Reading(sid, "pressure", pressure * 0.01, None),
        Reading(sid, "humidity", humidity, None),
    )
    return [Message(f"airrohr/{dev}", body.encode(), readings, 1.0 + 2.0 * s.u[0])]


# --- LoRaWAN: Milesight frames in The Things Stack v3 / ChirpStack v4 uplinks --------------------------


def milesight_frame(s: Sample) -> tuple[bytes, list[tuple[str, float]]]:
    """The Milesight channel/type TLV frame (f_port 85) and the canonical readings it carries."""
    v = s.values
    battery = int(min(100, max(0, round(v["battery"]))))
    if s.sensor.model == "EM310-UDL":
        distance = int(min(65535, max(0, round(v["distance"]))))
        tilt = int(v["tilted"] >= 0.5)
        frame = bytes([0x01, 0x75, battery, 0x03, 0x82]) + struct.pack("<H", distance) + bytes([0x04, 0x00, tilt])
        return frame, [("battery", float(battery)), ("distance", float(distance)), ("tilted", float(tilt))]
    temp = round(v["temperature"] * 10)
    hum = int(min(255, max(0, round(v["humidity"] * 2))))
    co2 = int(min(65535, max(0, round(v["co2"]))))
    tvoc = int(min(65535, max(0, round(v["tvoc"]))))
    pressure = round(v["pressure"] * 10)
    hcho = int(min(65535, max(0, round(v["hcho"] * 100))))
    pm25 = int(min(65535, max(0, round(v["pm25"]))))
    pm10 = int(min(65535, max(0, round(v["pm10"]))))
    pir = int(s.u[5] < 0.4)
    light = min(5, int(s.u[6] * 4))
    frame = (
        bytes([0x01, 0x75, battery, 0x03, 0x67]) + struct.pack("<h", temp)
        + bytes([0x04, 0x68, hum, 0x05, 0x00, pir, 0x06, 0xCB, light, 0x07, 0x7D]) + struct.pack("<H", co2)
        + bytes([0x08, 0x7D]) + struct.pack("<H", tvoc) + bytes([0x09, 0x73]) + struct.pack("<H", pressure)
        + bytes([0x0A, 0x7D]) + struct.pack("<H", hcho) + bytes([0x0B, 0x7D]) + struct.pack("<H", pm25)
        + bytes([0x0C, 0x7D]) + struct.pack("<H", pm10) + bytes([0x0E, 0x01, 0x55])
    )
    return frame, [
        ("battery", float(battery)), ("temperature", temp / 10), ("humidity", hum / 2), ("co2", float(co2)),
        ("pressure", pressure / 10), ("pm25", float(pm25)), ("pm10", float(pm10)),
    ]


def rfc3339_ns(t: int, ns: int) -> tuple[str, datetime]:
    """`2023-05-19T05:33:35.848446463Z` for t seconds + ns, and the instant ingest reads (to the µs)."""
    base = datetime.fromtimestamp(t, UTC)
    text = base.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"
    return text, base + timedelta(microseconds=ns // 1000)


# RFC 4648 base32 → Crockford's alphabet, which ULIDs use.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _ulid_time(t_ms: int) -> str:
    """The 10-character time part of a ULID (48-bit milliseconds, Crockford base32)."""
    return "".join(_CROCKFORD_CHARS[(t_ms >> (5 * i)) & 31] for i in range(9, -1, -1))


_CROCKFORD_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CORRELATION_PREFIXES = ("as:up", "gs:conn", "gs:up:host", "gs:uplink", "ns:uplink",
                         "rpc:/ttn.lorawan.v3.GsNs/HandleUplink", "rpc:/ttn.lorawan.v3.NsAs/HandleUplink")


def _correlation_ids(t_ms: int, seed: int) -> str:
    """The seven ULID-shaped correlation ids of an uplink, as The Things Stack lists them (80 random bits each,
    deterministic here: all seven from one digest)."""
    noise = hashlib.blake2b(seed.to_bytes(16, "little", signed=True), digest_size=64).digest()[:60]
    noise += hashlib.blake2b(noise, digest_size=10).digest()
    randoms = base64.b32encode(noise).translate(_CROCKFORD).decode("ascii")  # 70 bytes: 112 characters
    stamp = _ulid_time(t_ms)
    return ", ".join(f'"{p}:{stamp}{randoms[16 * i : 16 * i + 16]}"' for i, p in enumerate(_CORRELATION_PREFIXES))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _gateway(s: Sample) -> tuple[str, str, int, float]:
    gw = str(s.sensor.meta("gateway_eui", "6A7E111A10000000" if s.sensor.district == "Leuven" else "6A7E111A10000002"))
    return gw, gw.lower(), -118 + int(s.u[1] * 80), round(-7.0 + 20.0 * s.u[2], 1)


def ttn(s: Sample) -> list[Message]:
    frame, values = milesight_frame(s)
    dev = s.sensor.device
    app = str(s.sensor.meta("application", "citysense-leuven"))
    default_eui = dev[4:] if dev.startswith("eui-") else hashlib.blake2b(dev.encode(), digest_size=8).hexdigest()
    dev_eui = str(s.sensor.meta("dev_eui", default_eui)).upper()
    gw_eui, gw_lower, rssi, snr = _gateway(s)
    gw_ns = int(s.u[3] * 1e6) * 1000 + 982000
    gw_time, _ = rfc3339_ns(s.t, gw_ns)
    gw_time = gw_time[:-4] + "Z"  # gateways time-stamp to the µs
    gw_rx, _ = rfc3339_ns(s.t, gw_ns - 1_598_319)
    ns_at, _ = rfc3339_ns(s.t, gw_ns + 32_859_782)
    as_ns = gw_ns + 239_464_481 + int(s.u[4] * 1e8)
    as_at, when = rfc3339_ns(s.t + as_ns // 1_000_000_000, as_ns % 1_000_000_000)
    t_ms = s.t * 1000 + gw_ns // 1_000_000
    corr = _correlation_ids(t_ms, (s.index << 20) ^ int(s.u[3] * (1 << 20)))
    stamp = (s.t * 1_000_000 + gw_ns // 1000) % 2**32
    token = _b64(b"\n\"\n \n\x14eui-" + gw_lower.encode() + struct.pack("<Q", stamp) + bytes(16))
    airtime = "0.056576s" if len(frame) < 20 else "0.097536s"
    body = f"""{{
  "end_device_ids": {{
    "device_id": "{dev}",
    "application_ids": {{
      "application_id": "{app}"
    }},
    "dev_eui": "{dev_eui}",
    "join_eui": "{s.sensor.meta("join_eui", "24E124C0002A0001")}",
    "dev_addr": "{s.sensor.meta("dev_addr", "260B" + dev_eui[-4:])}"
  }},
  "correlation_ids": [{corr}],
  "received_at": "{as_at}",
  "uplink_message": {{
    "session_key_id": "{_b64(dev_eui.encode()[:16])}",
    "f_port": 85,
    "f_cnt": {s.index % 2**32},
    "frm_payload": "{_b64(frame)}",
    "rx_metadata": [{{
      "gateway_ids": {{
        "gateway_id": "eui-{gw_lower}",
        "eui": "{gw_eui}"
      }},
      "time": "{gw_time}",
      "timestamp": {stamp},
      "rssi": {rssi},
      "channel_rssi": {rssi},
      "snr": {snr},
      "frequency_offset": "{int(s.u[5] * 200) - 100}",
      "uplink_token": "{token}",
      "channel_index": {int(s.u[6] * 8)},
      "received_at": "{gw_rx}"
    }}],
    "settings": {{
      "data_rate": {{
        "lora": {{
          "bandwidth": 125000,
          "spreading_factor": {7 + int(s.u[7] * 3)},
          "coding_rate": "4/5"
        }}
      }},
      "frequency": "{(867100000, 867300000, 867500000, 867700000, 868100000)[int(s.u[6] * 5)]}",
      "timestamp": {stamp},
      "time": "{gw_time}"
    }},
    "received_at": "{ns_at}",
    "consumed_airtime": "{airtime}",
    "network_ids": {{
      "net_id": "000013",
      "tenant_id": "ttn",
      "cluster_id": "eu1",
      "cluster_address": "eu1.cloud.thethings.network"
    }}
  }}
}}"""
    sid = s.sensor.id
    topic = f"v3/{app}@ttn/devices/{dev}/up"
    readings = tuple(Reading(sid, m, x, when) for m, x in values)
    return [Message(topic, body.encode(), _with_fill(s, readings), (as_ns / 1e9) + 0.01)]


def _uuid(u: Sequence[float], salt: int) -> str:
    a = int(u[0] * 2**32) ^ (salt * 2654435761 & 0xFFFFFFFF)
    b = int(u[1] * 2**32)
    c = int(u[2] * 2**32)
    d = int(u[3] * 2**32)
    h = f"{a:08x}{b:08x}{c:08x}{d:08x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(u[4] * 4)]}{h[17:20]}-{h[20:32]}"


def chirpstack(s: Sample) -> list[Message]:
    frame, values = milesight_frame(s)
    eui = s.sensor.device
    app_id = str(s.sensor.meta("application_id", "ca739e26-7b67-4f14-b69e-d568c22a5a75"))
    us = int(s.u[3] * 1e6)
    when = datetime.fromtimestamp(s.t, UTC) + timedelta(microseconds=us)
    stamp = when.isoformat(timespec="microseconds")
    _, gw_lower, rssi, snr = _gateway(s)
    body = f"""{{
  "deduplicationId": "{_uuid(s.u, s.index)}",
  "time": "{stamp}",
  "deviceInfo": {{
    "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
    "tenantName": "ChirpStack",
    "applicationId": "{app_id}",
    "applicationName": "{s.sensor.meta("application_name", "Leuven bins")}",
    "deviceProfileId": "605d08d4-65f5-4d2c-8a5a-3d2457662f79",
    "deviceProfileName": "Milesight {s.sensor.model}",
    "deviceName": "{s.sensor.meta("device_name", s.sensor.model + " " + eui[-4:])}",
    "devEui": "{eui}",
    "tags": {{}}
  }},
  "devAddr": "{s.sensor.meta("dev_addr", "0" + eui[-7:])}",
  "adr": true,
  "dr": {5 - int(s.u[7] * 3)},
  "fCnt": {s.index % 2**32},
  "fPort": 85,
  "confirmed": false,
  "data": "{_b64(frame)}",
  "rxInfo": [{{
    "gatewayId": "{gw_lower}",
    "uplinkId": {int(s.u[4] * 65535)},
    "time": "{stamp}",
    "rssi": {rssi},
    "snr": {snr},
    "channel": {int(s.u[6] * 8)},
    "rfChain": {int(s.u[5] * 2)},
    "location": {{}},
    "context": "{_b64(struct.pack(">I", (s.t * 1000 + us // 1000) % 2**32))}",
    "metadata": {{
      "region_common_name": "EU868",
      "region_config_id": "eu868"
    }},
    "crcStatus": "CRC_OK"
  }}],
  "txInfo": {{
    "frequency": {(868100000, 868300000, 868500000, 867100000, 867300000)[int(s.u[6] * 5)]},
    "modulation": {{
      "lora": {{
        "bandwidth": 125000,
        "spreadingFactor": {7 + int(s.u[7] * 3)},
        "codeRate": "CR_4_5"
      }}
    }}
  }}
}}"""
    sid = s.sensor.id
    readings = tuple(Reading(sid, m, x, when) for m, x in values)
    topic = f"application/{app_id}/device/{eui}/event/up"
    return [Message(topic, body.encode(), _with_fill(s, readings), us / 1e6 + 0.15 + 0.2 * s.u[0])]


def _with_fill(s: Sample, readings: tuple[Reading, ...]) -> tuple[Reading, ...]:
    """Bins: ingest derives the fill level from the distance and the bin depth of the sensor registry."""
    depth = s.sensor.metadata.get("depth_mm")
    if s.sensor.kind != "bin" or depth is None:
        return readings
    derived = tuple(
        Reading(r.sensor_id, "fill_level", min(100.0, max(0.0, (depth - r.value) / depth * 100.0)), r.time)
        for r in readings if r.metric == "distance"
    )
    return readings + derived


# --- Telraam ------------------------------------------------------------------------------------------


def _speed_histogram(v85: float, edges: Sequence[float]) -> list[float]:
    """Percent of cars per speed bin for a normal speed distribution with that 85th percentile."""
    sd = 6.5
    mean = v85 - 1.036 * sd

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf((x - mean) / (sd * math.sqrt(2.0))))

    cuts = [cdf(e) for e in edges]
    bins = [cuts[0]] + [b - a for a, b in itertools.pairwise(cuts)] + [1.0 - cuts[-1]]
    total = sum(bins)
    return [round(100.0 * b / total, 10) for b in bins]


def _json_number(x: float) -> float | int:
    return 0 if x == 0 else x


def telraam(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    segment = int(s.sensor.device)
    when = utc(s.t)
    date = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    observed = v["reported"] > 0.5
    uptime = v["uptime"] if observed else 0
    counts = {m: _json_number(round(v[m], 10) if observed else 0)
              for m in ("heavy_vehicles", "cars", "bikes", "pedestrians")}
    cars = counts["cars"]
    v85: float | None = float(v["speed_v85"]) if observed and cars > 0 else None
    item: dict[str, object] = {
        "instance_id": -1,
        "segment_id": segment,
        "date": date,
        "interval": "hourly",
        "uptime": uptime,
        "heavy": counts["heavy_vehicles"],
        "car": cars,
        "bike": counts["bikes"],
        "pedestrian": counts["pedestrians"],
    }
    for name, field in (("heavy_vehicles", "heavy"), ("cars", "car"), ("bikes", "bike"),
                        ("pedestrians", "pedestrian")):
        left = round(counts[name] * v[f"{name}_lft_share"], 10) if observed else 0
        item[f"{field}_lft"] = _json_number(left)
        item[f"{field}_rgt"] = _json_number(round(counts[name] - left, 10) if observed else 0)
    item["direction"] = 1
    item["timezone"] = "Europe/Brussels"
    if v85 is not None:
        item["car_speed_hist_0to70plus"] = [_json_number(x) for x in _speed_histogram(v85, range(10, 80, 10))]
        item["car_speed_hist_0to120plus"] = [_json_number(x) for x in _speed_histogram(v85, range(5, 125, 5))]
    else:
        item["car_speed_hist_0to70plus"] = [0] * 8
        item["car_speed_hist_0to120plus"] = [0] * 25
    item["v85"] = v85
    doc = {"status_code": 200, "message": "ok", "report": [item]}
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    readings: tuple[Reading, ...] = (Reading(sid, "uptime", float(uptime), when),)
    if observed:
        readings += tuple(
            Reading(sid, metric, float(counts[metric]), when)
            for metric in ("bikes", "cars", "pedestrians", "heavy_vehicles")
        ) + ((Reading(sid, "speed_v85", v85, when),) if v85 is not None else ())
    # The report for an hour exists once the hour is over; the bridge polls the API a few minutes later.
    return [Message(f"telraam/{segment}/traffic", body, readings, 3600.0 + 120.0 + 480.0 * s.u[0])]


# --- SenML ---------------------------------------------------------------------------------------------

_SENML: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "air": (("pm25", "ug/m3", 1), ("pm10", "ug/m3", 1), ("no2", "ug/m3", 1), ("o3", "ug/m3", 1),
            ("temperature", "Cel", 2), ("humidity", "%RH", 1), ("pressure", "hPa", 1)),
    "energy": (("power", "W", 1), ("voltage", "V", 1), ("current", "A", 3), ("energy_import", "kWh", 3),
               ("energy_export", "kWh", 3)),
    "mobility": (("bikes", "count", 0), ("cars", "count", 0), ("pedestrians", "count", 0),
                 ("heavy_vehicles", "count", 0), ("speed_v85", "km/h", 1)),
    "bin": (("distance", "mm", 0), ("battery", "%EL", 0), ("tilted", "1", 0)),
}


def senml(s: Sample) -> list[Message]:
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    when = utc(s.t)
    records: list[str] = []
    out: list[Reading] = []
    for i, (metric, unit, decimals) in enumerate(_SENML[s.sensor.kind]):
        if metric not in v:
            continue
        text, parsed = _num(v[metric], decimals)
        head = f'"bn":"{dev}:","bt":{s.t},' if i == 0 else ""
        records.append(f'{{{head}"n":"{metric}","u":"{unit}","v":{text}}}')
        out.append(Reading(sid, metric, parsed, when))
    body = "[" + ",\n ".join(records) + "]"
    readings = _with_fill(s, tuple(out))
    return [Message(f"citysense/senml/{dev}", body.encode(), readings, 0.1 + 0.2 * s.u[0])]


ENCODERS: Mapping[str, Callable[[Sample], list[Message]]] = {
    "tasmota": tasmota,
    "shelly-gen2-status": shelly_gen2_status,
    "shelly-gen2-rpc": shelly_gen2_rpc,
    "shelly-gen1": shelly_gen1,
    "dsmr": dsmr,
    "zigbee2mqtt": zigbee2mqtt,
    "sensor-community": sensor_community,
    "ttn": ttn,
    "chirpstack": chirpstack,
    "telraam": telraam,
    "senml": senml,
}


def encode(sample: Sample) -> list[Message]:
    return ENCODERS[sample.sensor.format](sample)
