"""Shelly devices over MQTT, both generations.

Gen2/Gen3 (Plus, Pro, Mini) publish each component's status as JSON on
`<prefix>/status/<component>` (no time) and notifications on `<prefix>/events/rpc`
(`NotifyStatus` carries only the fields that changed, `NotifyFullStatus` all of
them; `params.ts` is the epoch time). The prefix is the device id unless the user
set another; it names the sensor, `shelly:<prefix>`. A component with an id above
0 gets its own sensor, `shelly:<prefix>:switch:1`; the phases of a 3-phase meter
are `…:l1`, `…:l2`, `…:l3`.

Gen1 publishes one bare number per topic under `shellies/<id>/…`; its relay
energy counter is in watt-minutes while the emeter's `total` is in Wh.

Energy counters of both generations are converted to kWh. Relay/chip
temperatures, uptime, Wi-Fi and the like are not readings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.decoders.base import DecodeContext, Format
from ingest.decoders.jsonload import load, number, optional_number
from ingest.decoders.timeparse import from_epoch
from ingest.errors import DecodeError
from models.reading import Reading

SOURCE = "shelly"

# --- Gen2 ---------------------------------------------------------------------------------

_GEN2_TOPIC = re.compile(r"(?P<prefix>.+?)/(?:status/(?P<component>[^/]+)|events/rpc)")

_Handler = Callable[[str, dict[str, Any], datetime | None], list[Reading]]


def _put(out: list[Reading], sensor: str, metric: str, raw: object, what: str,
         time: datetime | None, scale: float = 1.0) -> None:
    value = optional_number(raw, what)
    if value is not None:
        out.append(Reading(sensor, metric, value * scale, time))


def _counter(raw: object, what: str) -> object:
    """`aenergy`/`ret_aenergy` are objects whose `total` is the counter (Wh)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise DecodeError(f"{what}: expected an object with 'total'")
    return raw.get("total")


# Plain fields of power-metering components (switch, cover, pm1, em1) → metric.
_SWITCH_FIELDS = {"apower": "power", "voltage": "voltage", "current": "current",
                  "freq": "frequency", "pf": "power_factor"}
_EM1_FIELDS = {"act_power": "power", "aprt_power": "apparent_power", "current": "current",
               "voltage": "voltage", "freq": "frequency", "pf": "power_factor"}
_PHASE_FIELDS = {"act_power": "power", "aprt_power": "apparent_power", "current": "current",
                 "voltage": "voltage", "pf": "power_factor"}
_EM_TOTALS = {"total_act_power": "power", "total_aprt_power": "apparent_power", "total_current": "current"}
_PHASES = (("a", "l1"), ("b", "l2"), ("c", "l3"))


def _switch(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    for field, metric in _SWITCH_FIELDS.items():
        _put(out, sensor, metric, st.get(field), field, time)
    _put(out, sensor, "energy_import", _counter(st.get("aenergy"), "aenergy"), "aenergy.total", time, 0.001)
    _put(out, sensor, "energy_export", _counter(st.get("ret_aenergy"), "ret_aenergy"),
         "ret_aenergy.total", time, 0.001)
    return out  # st["temperature"] is the relay's own temperature


def _em1(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    for field, metric in _EM1_FIELDS.items():
        _put(out, sensor, metric, st.get(field), field, time)
    return out


def _em(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    for field, metric in _EM_TOTALS.items():
        _put(out, sensor, metric, st.get(field), field, time)
    for p, suffix in _PHASES:
        phase = f"{sensor}:{suffix}"
        for field, metric in _PHASE_FIELDS.items():
            _put(out, phase, metric, st.get(f"{p}_{field}"), f"{p}_{field}", time)
        # An unconnected phase (0 V) reports a garbage frequency (198 Hz): it is no measurement.
        voltage = optional_number(st.get(f"{p}_voltage"), f"{p}_voltage")
        if voltage != 0.0:
            _put(out, phase, "frequency", st.get(f"{p}_freq"), f"{p}_freq", time)
    _put(out, f"{sensor}:n", "current", st.get("n_current"), "n_current", time)
    return out


def _emdata(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    _put(out, sensor, "energy_import", st.get("total_act"), "total_act", time, 0.001)
    _put(out, sensor, "energy_export", st.get("total_act_ret"), "total_act_ret", time, 0.001)
    for p, suffix in _PHASES:
        phase = f"{sensor}:{suffix}"
        _put(out, phase, "energy_import", st.get(f"{p}_total_act_energy"), f"{p}_total_act_energy", time, 0.001)
        _put(out, phase, "energy_export", st.get(f"{p}_total_act_ret_energy"),
             f"{p}_total_act_ret_energy", time, 0.001)
    return out


def _em1data(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    _put(out, sensor, "energy_import", st.get("total_act_energy"), "total_act_energy", time, 0.001)
    _put(out, sensor, "energy_export", st.get("total_act_ret_energy"), "total_act_ret_energy", time, 0.001)
    return out


def _temperature(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    _put(out, sensor, "temperature", st.get("tC"), "tC", time)
    return out


def _humidity(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    _put(out, sensor, "humidity", st.get("rh"), "rh", time)
    return out


def _devicepower(sensor: str, st: dict[str, Any], time: datetime | None) -> list[Reading]:
    out: list[Reading] = []
    battery = st.get("battery")
    if isinstance(battery, dict):
        _put(out, sensor, "battery", battery.get("percent"), "battery.percent", time)
    elif battery is not None:
        raise DecodeError("battery: expected an object with 'percent'")
    return out


# Component type → handler. Types not listed (sys, wifi, cloud, input, ble…) have no readings.
_COMPONENTS: dict[str, _Handler] = {
    "switch": _switch,
    "cover": _switch,
    "pm1": _switch,
    "em": _em,
    "emdata": _emdata,
    "em1": _em1,
    "em1data": _em1data,
    "temperature": _temperature,
    "humidity": _humidity,
    "devicepower": _devicepower,
}


def _component(key: str) -> tuple[_Handler, str] | None:
    """The handler and sensor suffix of a component key such as `switch:1`, or None."""
    kind, colon, cid = key.partition(":")
    handler = _COMPONENTS.get(kind)
    if handler is None or not colon or not cid.isdecimal():
        return None
    return handler, "" if int(cid) == 0 else f":{key}"


def _status(prefix: str, key: str, st: object, time: datetime | None) -> list[Reading]:
    found = _component(key)
    if found is None:
        return []
    if not isinstance(st, dict):
        raise DecodeError(f"{key}: component status must be a JSON object")
    handler, suffix = found
    return handler(f"{SOURCE}:{prefix}{suffix}", st, time)


def _rpc(prefix: str, doc: object) -> list[Reading]:
    if not isinstance(doc, dict) or not isinstance(doc.get("method"), str):
        raise DecodeError("events/rpc message must be a JSON object with a 'method'")
    if doc["method"] not in ("NotifyStatus", "NotifyFullStatus"):
        return []  # NotifyEvent (button presses, wake-ups…) carries no measurements
    params = doc.get("params")
    if not isinstance(params, dict):
        raise DecodeError(f"{doc['method']}: 'params' must be a JSON object")
    ts = params.get("ts")
    time = None if ts is None else from_epoch(number(ts, "params.ts"))
    readings: list[Reading] = []
    for key, st in params.items():
        readings.extend(_status(prefix, key, st, time))
    return readings


def decode_gen2(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _GEN2_TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not <prefix>/status/<component> or <prefix>/events/rpc")
    prefix, component = match["prefix"], match["component"]
    if component is None:
        return _rpc(prefix, load(payload))
    if _component(component) is None:
        return []
    return _status(prefix, component, load(payload), None)


# --- Gen1 ---------------------------------------------------------------------------------

_GEN1_TOPIC = re.compile(
    r"shellies/(?P<id>[^/]+)/(?:"
    r"(?P<relay>relay|roller)/(?P<rn>\d+)/(?P<rleaf>power|energy)"
    r"|emeter/(?P<en>\d+)/(?P<eleaf>power|reactive_power|voltage|current|pf|total|total_returned))"
)

# Leaf → (metric, factor to the canonical unit).
_RELAY_LEAVES: dict[str, tuple[str, float]] = {
    "power": ("power", 1.0),
    "energy": ("energy_import", 1.0 / 60000.0),  # watt-minutes
}
_EMETER_LEAVES: dict[str, tuple[str, float]] = {
    "power": ("power", 1.0),
    "reactive_power": ("reactive_power", 1.0),
    "voltage": ("voltage", 1.0),
    "current": ("current", 1.0),
    "pf": ("power_factor", 1.0),
    "total": ("energy_import", 0.001),  # Wh
    "total_returned": ("energy_export", 0.001),
}


def decode_gen1(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    match = _GEN1_TOPIC.fullmatch(topic)
    if match is None:
        raise DecodeError(f"topic {topic!r} is not a Shelly Gen1 relay/emeter value topic")
    if match["relay"]:
        kind, n = match["relay"], match["rn"]
        metric, factor = _RELAY_LEAVES[match["rleaf"]]
    else:
        kind, n = "emeter", match["en"]
        metric, factor = _EMETER_LEAVES[match["eleaf"]]
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("Shelly Gen1 value must be a bare ASCII number") from None
    value = number(text, topic.rsplit("/", 1)[1])
    sensor = f"{SOURCE}:{match['id']}" + ("" if int(n) == 0 else f":{kind}:{int(n)}")
    return [Reading(sensor, metric, value * factor, None)]


FORMAT_GEN1 = Format(
    name="shelly-gen1",
    topic=_GEN1_TOPIC,
    subscriptions=(
        "shellies/+/relay/+/power",
        "shellies/+/relay/+/energy",
        "shellies/+/roller/+/power",
        "shellies/+/roller/+/energy",
        *(f"shellies/+/emeter/+/{leaf}" for leaf in _EMETER_LEAVES),
    ),
    decode=decode_gen1,
    description="Shelly Gen1 bare values on shellies/<id>/relay|roller|emeter/<n>/<value>",
)

# Generic (any `<prefix>/status/<component>`): the registry puts it after every specific format.
FORMAT_GEN2 = Format(
    name="shelly-gen2",
    topic=_GEN2_TOPIC,
    subscriptions=("+/status/+", "+/+/status/+", "+/events/rpc", "+/+/events/rpc"),
    decode=decode_gen2,
    description="Shelly Gen2/Gen3 component status on <prefix>/status/<component> and <prefix>/events/rpc",
)

FORMATS = (FORMAT_GEN1, FORMAT_GEN2)
