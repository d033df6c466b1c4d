"""Shelly Gen2 (status and NotifyStatus RPC) and Gen1 (bare numbers, watt-minutes)."""

from __future__ import annotations

from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_printed, utc


def _by_minute(power: float) -> str:
    mwh = max(power, 0.0) * 1000.0 / 60.0
    return ",".join(as_printed(mwh * f, 3)[0] for f in (0.98, 1.01, 0.99))


def shelly_gen2_status(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    out: list[Reading] = []

    def put(metric: str, value: float, decimals: int, scale: float = 1.0) -> str:
        text, parsed = as_printed(value, decimals)
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
        text, parsed = as_printed(value, decimals)
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
    power_text, power = as_printed(max(v["power"], 0.0), 2)
    wmin_text, wmin = as_printed(v["energy_import"] * 60000.0, 0)
    delay = 0.1 + 0.2 * s.u[0]
    return [
        Message(f"shellies/{dev}/relay/0/power", power_text.encode(), (Reading(sid, "power", power, None),), delay),
        Message(f"shellies/{dev}/relay/0/energy", wmin_text.encode(),
                (Reading(sid, "energy_import", wmin * (1.0 / 60000.0), None),), delay + 0.002),
    ]
