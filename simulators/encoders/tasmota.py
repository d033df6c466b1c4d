"""Tasmota: `tele/<topic>/SENSOR` JSON, local time without a zone."""

from __future__ import annotations

import math

from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_decoded_local, as_printed, local_clock


def _dew_point(t: float, rh: float) -> float:
    g = math.log(max(rh, 1.0) / 100.0) + 17.62 * t / (243.12 + t)
    return 243.12 * g / (17.62 - g)


def tasmota(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    local = local_clock(s.t, s.tz)
    when = as_decoded_local(local, s.tz)
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
    out: list[Reading] = []

    def put(metric: str, value: float, decimals: int) -> str:
        text, parsed = as_printed(value, decimals)
        out.append(Reading(sid, metric, parsed, when))
        return text

    if s.sensor.kind == "energy":
        since = local_clock(int(v["counter_since"]), s.tz).strftime("%Y-%m-%dT%H:%M:%S")
        total = put("energy_import", v["energy_import"], 3)
        yesterday = as_printed(v["yesterday"], 3)[0]
        today = as_printed(v["today"], 3)[0]
        period = as_printed(v["period_wh"], 0)[0]
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
        dew = as_printed(_dew_point(float(temp), float(hum)), 1)[0]
        pres = put("pressure", v["pressure"], 1)
        pm25 = put("pm25", v["pm25"], 1)
        pm10 = put("pm10", v["pm10"], 1)
        body = (
            f'{{"Time":"{stamp}","BME280":{{"Temperature":{temp},"Humidity":{hum},"DewPoint":{dew},'
            f'"Pressure":{pres}}},"SDS0X1":{{"PM2.5":{pm25},"PM10":{pm10}}},'
            f'"PressureUnit":"hPa","TempUnit":"C"}}'
        )
    return [Message(f"tele/{s.sensor.device}/SENSOR", body.encode(), tuple(out), 0.05 + 0.3 * s.u[0])]
