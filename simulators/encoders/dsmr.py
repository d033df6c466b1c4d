"""DSMR P1 telegrams (Fluvius e-MUCS): local YYMMDDhhmmss with S/W, CRC-16/ARC at the end."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ingest.decoders.dsmr import crc16
from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_printed, local_clock, utc

# One CRC implementation for both directions: the decoder's. The simulator's telegrams are
# checked against a real meter's published CRC in tests/unit/simulators/test_encoders.py.
crc16_arc = crc16



def dsmr_stamp(t: int, tz: ZoneInfo) -> str:
    local = local_clock(t, tz)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _hex_id(text: str) -> str:
    return text.encode("ascii").hex().upper()


def dsmr(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    when = utc(s.t)
    phases = int(s.sensor.meta("phases", 1))
    out: list[Reading] = []
    t1_text, t1 = as_printed(v["import_t1"], 3)
    t2_text, t2 = as_printed(v["import_t2"], 3)
    e1_text, e1 = as_printed(v["export_t1"], 3)
    e2_text, e2 = as_printed(v["export_t2"], 3)
    net_kw = v["power"] / 1000.0
    imp_text, imp = as_printed(max(net_kw, 0.0), 3)
    exp_text, exp = as_printed(max(-net_kw, 0.0), 3)
    out += [
        Reading(sid, "energy_import", sum([t1, t2]), when),
        Reading(sid, "energy_export", sum([e1, e2]), when),
        Reading(sid, "power", imp * 1000.0 - exp * 1000.0, when),
    ]
    shares = (1.0,) if phases == 1 else (0.31, 0.44, 0.25)
    lines_in, lines_out, lines_v, lines_a = [], [], [], []
    for i, share in enumerate(shares):
        n = (2, 4, 6)[i]
        pi_text, pi = as_printed(max(net_kw, 0.0) * share, 3)
        po_text, po = as_printed(max(-net_kw, 0.0) * share, 3)
        volt_text, volt = as_printed(v["voltage"] + (0.0, -1.6, 0.9)[i], 1)
        amp_text, amp = as_printed(v["current"] * share, 2)
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
    local = local_clock(s.t, s.tz)
    tariff = 1 if local.weekday() < 5 and 7 <= local.hour < 22 else 2
    month_start = int(local.replace(day=1, hour=0, minute=0, second=0).timestamp())
    peak_at = month_start + 18 * 3600 + 2700 + 86400 * (int(s.sensor.meta("peak_day", 3)) % 28)
    peak_at = min(peak_at, s.t - s.t % 900)
    peak_text = as_printed(float(s.sensor.meta("peak_w", 2400.0)) / 1000.0 * 1.1, 3)[0]
    demand_text = as_printed(max(net_kw, 0.0) * (0.85 + 0.3 * s.u[1]), 3)[0]
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
        gas_text, gas = as_printed(v["gas_volume"], 3)
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
