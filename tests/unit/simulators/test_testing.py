"""The test helpers: small fleets, unique device names within each format's rules, topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulators.fleet import FORMATS, parse_fleet, to_records
from simulators.plan import build_plan
from simulators.testing import sample_fleet, topics_of, unique_fleet


def test_sample_fleet_has_one_sensor_per_format_kind_and_model() -> None:
    fleet = sample_fleet()
    keys = {(s.format, s.kind, s.model if FORMATS[s.format].models else "") for s in fleet.sensors}
    assert len(keys) == len(fleet) == 15
    assert {s.format for s in fleet.sensors} == set(FORMATS)


def test_unique_fleets_are_valid_and_disjoint() -> None:
    a, b = unique_fleet(sample_fleet(), "0a1b2c3d"), unique_fleet(sample_fleet(), "ffee0011")
    for fleet in (a, b):
        doc = {"sensor": [{**{k: v for k, v in r.items() if k != "interval_s"}, "interval": r["interval_s"]}
                          for r in to_records(fleet)]}
        assert parse_fleet(doc).sensors == fleet.sensors  # still valid device names for every format
    assert not {s.id for s in a.sensors} & {s.id for s in b.sensors}
    start = datetime(2026, 11, 20, tzinfo=UTC)
    ta = topics_of(build_plan(a, start, start + timedelta(hours=2), 1).events)
    tb = topics_of(build_plan(b, start, start + timedelta(hours=2), 1).events)
    assert ta
    assert not set(ta) & set(tb)
    assert ta == sorted(set(ta))
