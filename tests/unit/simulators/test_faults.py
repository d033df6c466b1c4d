"""Fault injection: exact, seeded counts; every fault does what it says, and nothing else."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ingest.decoders.base import DecodeContext
from ingest.decoders.registry import decode
from ingest.errors import Rejected
from simulators.faults import FAULTS, SKEWABLE, FaultConfig, corrupt
from simulators.fleet import Fleet, load_fleet
from simulators.plan import Plan, build_plan
from simulators.testing import sample_fleet

FLEET = sample_fleet()
START = datetime(2026, 11, 20, tzinfo=UTC)
END = START + timedelta(days=1)


def _plan(faults: set[str], rate: float = 0.05, seed: int = 42, fleet: Fleet = FLEET) -> Plan:
    return build_plan(fleet, START, END, seed, FaultConfig(frozenset(faults), rate))


def test_exact_counts_for_a_seed() -> None:
    plan = _plan(set(FAULTS))
    assert len(FLEET) == 15
    assert dict(plan.stats.faults) == {
        "clock-skew": 220, "dropout": 108, "counter-reset": 6, "out-of-order": 93, "late": 86, "malformed": 103,
        "duplicates": 94, "low-battery": 374, "stuck": 182,
    }
    assert len(plan) == 1770
    # The counts are the events' own tags, so a test can rely on either.
    tags = Counter(t for e in plan.events for t in e.faults)
    assert tags["malformed"] == plan.stats.faults["malformed"]
    assert tags["duplicate"] == plan.stats.faults["duplicates"]


def test_no_faults_by_default_and_rate_zero_is_off() -> None:
    clean = build_plan(FLEET, START, END, 42)
    assert not clean.stats.faults
    assert all(not e.faults for e in clean.events)
    off = _plan(set(FAULTS), rate=0.0)
    assert [e.payload for e in off.events] == [e.payload for e in clean.events]


def test_malformed_messages_are_rejected_by_ingest_and_only_they() -> None:
    plan = _plan({"malformed"}, rate=0.1)
    malformed = [e for e in plan.events if e.malformed]
    assert len(malformed) == plan.stats.faults["malformed"] > 50
    assert {e.format for e in malformed} >= {"dsmr", "shelly-gen1", "tasmota", "ttn", "telraam"}
    for e in plan.events:
        ctx = DecodeContext(received_at=e.publish_time)
        if e.malformed:
            assert e.readings == ()
            with pytest.raises(Rejected):
                decode(e.topic, e.payload, ctx)
        else:
            decode(e.topic, e.payload, ctx)


@pytest.mark.parametrize("fmt", ["tasmota", "shelly-gen1", "dsmr", "ttn", "chirpstack", "telraam", "senml",
                                 "sensor-community", "zigbee2mqtt", "shelly-gen2-rpc", "shelly-gen2-status"])
def test_corrupt_payloads_never_decode(fmt: str) -> None:
    event = next(e for e in build_plan(FLEET, START, START + timedelta(hours=3), 1).events if e.format == fmt)
    for u1 in np.linspace(0, 0.999, 9):
        for u2 in np.linspace(0, 0.999, 13):
            bad = corrupt(fmt, event.payload, float(u1), float(u2))
            assert bad != event.payload
            with pytest.raises(Rejected):
                decode(event.topic, bad, DecodeContext())


def test_duplicates_repeat_the_payload_shortly_after() -> None:
    plan = _plan({"duplicates"})
    seen: dict[tuple[str, bytes], float] = {}
    dups = 0
    for e in plan.events:
        key = (e.topic, e.payload)
        if e.duplicate:
            dups += 1
            assert key in seen
            assert 0.5 <= e.publish_at - seen[key] <= 30.0
        else:
            seen[key] = e.publish_at
    assert dups == plan.stats.faults["duplicates"] == 101


def test_late_and_out_of_order_messages_are_held_back() -> None:
    clean = {(e.topic, e.payload): e.publish_at for e in build_plan(FLEET, START - timedelta(hours=2), END, 42).events}
    plan = _plan({"late", "out-of-order"})
    by_sensor: dict[str, list[float]] = defaultdict(list)
    for e in plan.events:
        by_sensor[e.sensor_id].append(e.measured_at)
        if "late" in e.faults:
            assert 300 <= e.publish_at - clean[(e.topic, e.payload)] <= 3600
        elif "out-of-order" in e.faults:
            assert e.publish_at - clean[(e.topic, e.payload)] > 60
    # Some sensor's measurements arrive out of their order.
    assert any(np.any(np.diff(times) < 0) for times in by_sensor.values())
    assert [e.publish_at for e in plan.events] == sorted(e.publish_at for e in plan.events)


def test_dropouts_silence_whole_stretches() -> None:
    clean = build_plan(FLEET, START, END, 42)
    plan = _plan({"dropout"})
    samples = Counter(e.sensor_id for e in clean.events) - Counter(e.sensor_id for e in plan.events)
    assert sum(samples.values()) >= plan.stats.faults["dropout"] == 108
    assert all(e.faults == () for e in plan.events)


def test_clock_skew_shifts_device_times_only() -> None:
    clean = {(e.sensor_id, e.measured_at, e.topic): e for e in build_plan(FLEET, START, END, 42).events}
    plan = _plan({"clock-skew"})
    shifted = 0
    for e in plan.events:
        ref = clean[(e.sensor_id, e.measured_at, e.topic)]
        assert e.publish_at == ref.publish_at  # the message still leaves on time
        offsets = {round(a.time.timestamp() - b.time.timestamp()) for a, b in zip(e.readings, ref.readings, strict=True)
                   if a.time is not None and b.time is not None and a.metric != "gas_volume"}
        if offsets != {0} and offsets:
            shifted += 1
            assert e.format in SKEWABLE
            (offset,) = offsets
            assert offset % 60 != 0
            assert -1500 - 8 <= offset <= 480 + 7
    assert shifted == plan.stats.faults["clock-skew"] == 238


def test_low_battery_changes_only_the_battery_of_battery_sensors() -> None:
    clean = {(e.sensor_id, e.measured_at, e.topic): e for e in build_plan(FLEET, START, END, 42).events}
    plan = _plan({"low-battery"})
    low = 0
    for e in plan.events:
        ref = clean[(e.sensor_id, e.measured_at, e.topic)]
        assert e.publish_at == ref.publish_at
        changed = {a.metric for a, b in zip(e.readings, ref.readings, strict=True) if a.value != b.value}
        assert changed <= {"battery"}
        if changed:
            low += 1
            (battery,) = [r.value for r in e.readings if r.metric == "battery"]
            assert 3 <= battery <= 15
    # Counted per sample whose battery signal was replaced; a format that carries no battery
    # (a Tasmota air station's) publishes none of it.
    assert 0 < low <= plan.stats.faults["low-battery"]


def test_stuck_freezes_pm_or_humidity_at_its_failure_value_for_whole_episodes() -> None:
    clean = {(e.sensor_id, e.measured_at, e.topic): e for e in build_plan(FLEET, START, END, 42).events}
    plan = _plan({"stuck"})
    frozen: dict[str, list[datetime]] = defaultdict(list)
    shown: dict[tuple[str, str], float] = {}
    for e in plan.events:
        ref = clean[(e.sensor_id, e.measured_at, e.topic)]
        assert e.publish_at == ref.publish_at
        changed = {a.metric: a.value for a, b in zip(e.readings, ref.readings, strict=True) if a.value != b.value}
        # PM channels fail together at 999.9; a humidity element alone, at 99.9.
        assert changed.keys() <= {"pm1", "pm25", "pm10"} or changed.keys() == {"humidity"}, changed
        want = 99.9 if "humidity" in changed else 999.9
        # As the format carries it (TTN's integer µg/m3 reads 1000), and always the same value.
        assert all(abs(v - want) <= 0.5 for v in changed.values()), changed
        for metric, v in changed.items():
            shown.setdefault((e.sensor_id, metric), v)
            assert shown[(e.sensor_id, metric)] == v
        if changed:
            frozen[f"{e.sensor_id}/{min(changed)}"].append(e.measured_at)
    assert {k.rsplit("/", 1)[1] for k in frozen} == {"humidity", "pm10"}  # both failures struck
    assert sum(len(v) for v in frozen.values()) <= plan.stats.faults["stuck"]
    # An episode lasts at least an hour: many repeats in a row, enough for health to see.
    assert max(len(v) for v in frozen.values()) >= 12


def test_counter_resets_restart_the_energy_counter_from_zero() -> None:
    fleet = load_fleet().only({"tasmota:pow-kessello-17", "zigbee2mqtt:plug-wijgmaal-fridge"})
    plan = _plan({"counter-reset"}, rate=0.15, fleet=fleet)
    drops = 0
    for sensor_id in ("tasmota:pow-kessello-17", "zigbee2mqtt:plug-wijgmaal-fridge"):
        values = [r.value for e in plan.events for r in e.readings
                  if r.metric == "energy_import" and r.sensor_id == sensor_id]
        steps = [(a, b) for a, b in itertools.pairwise(values) if b < a]
        assert all(b < 1.0 for _, b in steps)  # from zero, plus what one interval adds
        drops += len(steps)
    assert drops == plan.stats.faults["counter-reset"] >= 2


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultConfig(frozenset({"gremlins"}))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        FaultConfig(frozenset(), 1.5)
