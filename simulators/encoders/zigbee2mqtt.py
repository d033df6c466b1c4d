"""Zigbee2MQTT device state JSON."""

from __future__ import annotations

from models.reading import Reading
from simulators.encoders.base import Message, Sample, as_printed, local_clock, utc


def zigbee2mqtt(s: Sample) -> list[Message]:
    v, sid = s.values, s.sensor.id
    local = local_clock(s.t, s.tz)
    last_seen = local.isoformat(timespec="seconds")
    when = utc(s.t)
    current_text, current = as_printed(v["current"], 2)
    energy_text, energy = as_printed(v["energy_import"], 2)
    power_text, power = as_printed(max(v["power"], 0.0), 0)
    volt_text, volt = as_printed(v["voltage"], 0)
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
