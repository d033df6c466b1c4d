"""Milesight LoRaWAN frames (EM310-UDL bin, AM319/AM307 air), as the LoRaWAN encoders carry them."""

from __future__ import annotations

import struct

from simulators.encoders.base import Sample


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
