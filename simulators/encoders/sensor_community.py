"""Sensor.Community (airrohr) firmware push: string values, pressure in Pa."""

from __future__ import annotations

from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_printed


def sensor_community(s: Sample) -> list[Message]:
    v, sid, dev = s.values, s.sensor.id, s.sensor.device
    chip = dev.split("-", 1)[1]
    p1, pm10 = as_printed(v["pm10"], 2)
    p2, pm25 = as_printed(v["pm25"], 2)
    temp, temperature = as_printed(v["temperature"], 2)
    pres, pressure = as_printed(v["pressure"] * 100.0, 2)  # Pa on the wire
    hum, humidity = as_printed(v["humidity"], 2)
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
