"""What the simulated fleet's API-only devices answer: Telraam report rows and Sensor.Community
area records, in the real APIs' documented shapes (pure).

Telraam rows come from the same encoder the MQTT simulation uses (simulators.encoders.telraam),
so a polled hour and a published hour are the same bytes. Area records follow the API v1 record
(reference: sensor-community__api-v1-response-sds011-dht22.json): per station an SDS011 record
(P1, P2) and a BME280 record (temperature, pressure in Pa, humidity), with the API's own sensor
ids (the API names sensors, not chip ids: a station's sensors are `2·n` and `2·n+1` where n is
the chip id mod 10^6). One extra indoor station is added, as the real map has them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import orjson

from simulators.encoders import Sample
from simulators.encoders.telraam import telraam
from simulators.fleet import Fleet, Sensor
from simulators.signals import sample_index, sample_times, simulate

_HOUR = 3600
AREA_MEMORY_S = 300  # the area API answers the last five minutes
AIRROHR_INTERVAL_S = 145  # the firmware's default send interval; the area API shows every measurement
_U = (0.5,) * 8  # the encoders' incidental randomness only shapes delays, which an API does not have


def _epoch(t: datetime) -> int:
    return int(t.timestamp())


@dataclass(frozen=True, slots=True)
class TelraamSource:
    fleet: Fleet
    seed: int = 1

    def segments(self) -> dict[str, Sensor]:
        return {s.device: s for s in self.fleet.sensors if s.format == "telraam"}

    def rows(self, segment: str, start: datetime, end: datetime, now: datetime) -> list[dict[str, object]]:
        """The report rows of the hours in [start, end) that are over by `now`."""
        sensor = self.segments().get(segment)
        if sensor is None:
            return []
        last = min(_epoch(end), _epoch(now) // _HOUR * _HOUR)
        times = sample_times(sensor, _epoch(start), last)
        if len(times) == 0:
            return []
        samples = simulate(self.seed, sensor, times)
        indices = sample_index(sensor, times)
        out: list[dict[str, object]] = []
        for i, t in enumerate(times):
            values = {name: float(col[i]) for name, col in samples.values.items()}
            (msg,) = telraam(Sample(sensor, int(t), int(indices[i]), values, _U))
            out.append(orjson.loads(msg.payload)["report"][0])
        return out


def _station_number(sensor: Sensor) -> int:
    return int(sensor.device.split("-", 1)[1]) % 1_000_000


def _value(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


@dataclass(frozen=True, slots=True)
class AreaSource:
    fleet: Fleet
    seed: int = 1
    indoor_station: bool = True

    def stations(self) -> list[tuple[Sensor, bool]]:
        outdoor = [(replace(s, interval_s=AIRROHR_INTERVAL_S), False)
                   for s in self.fleet.sensors if s.format == "sensor-community"]
        if self.indoor_station and outdoor:
            first = outdoor[0][0]
            twin = Sensor(id="sensor.community:esp8266-900001", kind="air", format="sensor-community",
                          model=first.model, district=first.district, lat=first.lat + 0.0011,
                          lon=first.lon + 0.0007, private=False, interval_s=first.interval_s)
            outdoor.append((twin, True))
        return outdoor

    def records(self, lat: float, lon: float, km: float, now: datetime) -> list[dict[str, object]]:
        """The records of the last five minutes of the stations within `km` of (lat, lon)."""
        t1 = _epoch(now) + 1
        out: list[dict[str, object]] = []
        for sensor, indoor in self.stations():
            if _km(lat, lon, sensor.lat, sensor.lon) > km:
                continue
            times = sample_times(sensor, t1 - AREA_MEMORY_S, t1)
            if len(times) == 0:
                continue
            samples = simulate(self.seed, sensor, times)
            n = _station_number(sensor)
            location = {"id": n % 100_000, "latitude": _value(sensor.lat, 3), "longitude": _value(sensor.lon, 3),
                        "altitude": "30.0", "country": "BE", "exact_location": 0, "indoor": int(indoor)}
            for i, t in enumerate(times):
                v = {name: float(col[i]) for name, col in samples.values.items()}
                stamp = datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d %H:%M:%S")
                for k, (type_name, maker, values) in enumerate((
                    ("SDS011", "Nova Fitness", [("P1", _value(v["pm10"], 2)), ("P2", _value(v["pm25"], 2))]),
                    ("BME280", "Bosch", [("temperature", _value(v["temperature"], 2)),
                                         ("pressure", _value(v["pressure"] * 100.0, 2)),
                                         ("humidity", _value(v["humidity"], 2))]),
                )):
                    sid = 2 * n + k
                    out.append({
                        "id": int(t) * 10**7 + sid,  # unique per sensor and measurement
                        "sampling_rate": None,
                        "timestamp": stamp,
                        "location": location,
                        "sensor": {"id": sid, "pin": "1" if k == 0 else "11",
                                   "sensor_type": {"id": 14 if k == 0 else 17, "name": type_name,
                                                   "manufacturer": maker}},
                        "sensordatavalues": [{"id": int(t) * 10 + j, "value": val, "value_type": vt}
                                             for j, (vt, val) in enumerate(values)],
                    })
        return out


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = (lon2 - lon1) * 111.2 * math.cos(math.radians((lat1 + lat2) / 2))
    return float(np.hypot(x, (lat2 - lat1) * 111.2))
