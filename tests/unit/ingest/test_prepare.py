from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from ingest.prepare import Inbound, PrepareConfig, prepare

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CFG = PrepareConfig(tz=ZoneInfo("Europe/Brussels"), max_payload_bytes=1024, max_future=timedelta(minutes=10))


def msg(device: str, readings: dict[str, float], time: str | None = "2026-11-26T09:59:00Z") -> Inbound:
    body: dict[str, object] = {"readings": readings}
    if time is not None:
        body["time"] = time
    return Inbound(f"citysense/json/{device}", orjson.dumps(body), NOW)


def test_rows_are_sorted_columns_and_sensors_are_summarised() -> None:
    batch = prepare(
        [msg("plug", {"power": 5.0, "voltage": 230.0}), msg("air", {"pm25": 7.0}, "2026-11-26T09:00:00Z")], CFG
    )
    assert batch.sensor_ids == ["citysense:air", "citysense:plug", "citysense:plug"]
    assert batch.metrics == ["pm25", "power", "voltage"]
    assert batch.values == [7.0, 5.0, 230.0]
    assert batch.times[0] == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert batch.sensors["citysense:plug"].kind == "energy"
    assert batch.sensors["citysense:air"].kind == "air"
    assert batch.rejects == []


def test_missing_time_takes_receive_time() -> None:
    batch = prepare([msg("plug", {"power": 5.0}, time=None)], CFG)
    assert batch.times == [NOW]


def test_undecodable_message_is_rejected_with_reason_and_others_pass() -> None:
    bad = Inbound("citysense/json/x", b"{not json", NOW)
    batch = prepare([bad, msg("plug", {"power": 5.0})], CFG)
    assert len(batch) == 1
    ((received, topic, payload, error, sensor_id),) = batch.rejects
    assert (received, topic, payload) == (NOW, "citysense/json/x", b"{not json")
    assert sensor_id == "citysense:x"  # the topic names the device even when the payload is garbage
    assert error.startswith("DecodeError: invalid JSON")


def test_unknown_topic_oversize_and_invalid_values() -> None:
    batch = prepare(
        [
            Inbound("nobody/listens/here", b"1", NOW),
            Inbound("citysense/json/big", b"x" * 2000, NOW),
            msg("plug", {"power": 5.0, "voltage": 3000.0}),
        ],
        CFG,
    )
    errors = [r[3] for r in batch.rejects]
    assert errors[0] == "UnknownTopic: no decoder for topic 'nobody/listens/here'"
    assert errors[1] == "OversizePayload: payload of 2000 bytes exceeds the limit of 1024 bytes"
    assert errors[2].startswith("InvalidReading: citysense:plug: voltage=3000 V")
    # The valid reading of the partly invalid message is kept.
    assert (batch.metrics, batch.values) == (["power"], [5.0])


def test_future_and_past_horizon() -> None:
    cfg = PrepareConfig(CFG.tz, 1024, timedelta(minutes=10), oldest=timedelta(days=30))
    batch = prepare(
        [msg("a", {"power": 1.0}, "2026-11-26T10:11:00Z"), msg("b", {"power": 1.0}, "2026-10-01T00:00:00Z")], cfg
    )
    assert len(batch) == 0
    assert "in the future" in batch.rejects[0][3]
    assert "retention horizon" in batch.rejects[1][3]


def test_strict_mode_rejects_unknown_sensors() -> None:
    cfg = PrepareConfig(CFG.tz, 1024, CFG.max_future, strict=True)
    batch = prepare([msg("known", {"power": 1.0}), msg("stranger", {"power": 2.0})], cfg, {"citysense:known"})
    assert batch.sensor_ids == ["citysense:known"]
    assert batch.rejects[0][3] == "InvalidReading: unknown sensor 'citysense:stranger' (strict mode: register it first)"


def test_local_time_without_zone_uses_configured_zone_across_dst() -> None:
    # 2026-03-29 is the spring-forward day in Brussels: 01:30 is CET (+1), 03:30 is CEST (+2).
    batch = prepare([msg("a", {"power": 1.0}, "2026-03-29T01:30:00"), msg("b", {"power": 1.0}, "2026-03-29T03:30:00")],
                    PrepareConfig(CFG.tz, 1024, timedelta(days=400)))
    assert batch.times == [datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]


def test_dead_letters_name_the_sensor_from_the_readings_or_the_topic() -> None:
    batch = prepare(
        [
            Inbound("nobody/listens/here", b"1", NOW),
            msg("plug", {"power": 5.0, "voltage": 3000.0}),
            # the object names another sensor than the topic: the readings win
            Inbound("citysense/json/gw", orjson.dumps({"sensor_id": "citysense:inner", "readings": {"pm25": -4}}), NOW),
            Inbound("dsmr/meter", b"/garbage", NOW),
        ],
        CFG,
    )
    assert [r.sensor_id for r in batch.rejects] == [None, "citysense:plug", "citysense:inner", None]


def test_clocks_keep_the_newest_device_time_per_sensor_and_skip_untimed_and_interval_times() -> None:
    batch = prepare(
        [
            msg("a", {"power": 1.0}, "2026-11-26T09:50:00Z"),
            msg("a", {"power": 2.0}, "2026-11-26T09:40:00Z"),  # older device time: a buffered message
            msg("untimed", {"power": 1.0}, time=None),
            msg("counter", {"bikes": 3.0}, "2026-11-26T09:00:00Z"),  # the start of a counting hour
        ],
        CFG,
    )
    assert batch.clocks == {"citysense:a": (datetime(2026, 11, 26, 9, 50, tzinfo=UTC), NOW)}
