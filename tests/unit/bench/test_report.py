"""The pure parts of `citysense bench`: expected rows, latency matching, percentiles, targets, the table,
/proc parsing, and the MQTT packets the raw publisher sends."""

from __future__ import annotations

import argparse
import math

import numpy as np
import orjson
import pytest

from bench import report
from bench.broker import connack_receive_maximum, connect_packet
from bench.messages import publish_packet, varint
from bench.options import CLIENTS, DEFAULT_STAGES, STAGES, _clients, _stages
from devenv.mosquitto import override_option

BASE = 1_736_121_600_000  # 2025-01-06T00:00:00Z in ms


def arr(values: list[int], dtype: type = np.int64) -> np.ndarray:
    return np.array(values, dtype=dtype)


# --- expected rows --------------------------------------------------------------------------------


def test_reading_keys_name_sensor_metric_and_time() -> None:
    keys = report.reading_keys(arr([0, 1, 0], np.int32), arr([BASE, BASE, BASE + 1000]), BASE)
    assert len(set(keys.tolist())) == 3
    assert (keys >= 0).all()


def test_reading_keys_leave_untimed_and_out_of_span_readings_unmatched() -> None:
    keys = report.reading_keys(arr([0, 0, 0], np.int32), arr([-1, BASE - 1, BASE + (1 << 32)]), BASE)
    assert keys.tolist() == [-1, -1, -1]


def test_expected_counts_collapse_repeated_timed_keys_and_count_every_untimed_reading() -> None:
    pair = arr([0, 0, 0, 1, 1, 2], np.int32)
    time_ms = arr([BASE, BASE, BASE + 60_000, -1, -1, BASE])
    assert report.expected_counts(pair, time_ms, BASE, 4).tolist() == [2, 2, 1, 0]


def test_compare_counts_ok_when_equal() -> None:
    expected = {("s1", "power"): 3, ("s2", "pm25"): 1}
    result = report.compare_counts(expected, dict(expected))
    assert result["ok"] is True
    assert (result["missing"], result["extra"], result["expected_rows"], result["rows"]) == (0, 0, 4, 4)


def test_compare_counts_reports_missing_extra_and_unexpected_pairs() -> None:
    expected = {("s1", "power"): 3, ("s2", "pm25"): 2}
    actual = {("s1", "power"): 5, ("s3", "co2"): 1}
    result = report.compare_counts(expected, actual)
    assert result["ok"] is False
    assert (result["missing"], result["extra"], result["pairs_mismatched"]) == (2, 3, 3)
    assert "s2 pm25: expected 2, found 0" in result["examples"]


def test_compare_counts_keeps_at_most_five_examples() -> None:
    expected = {(f"s{i}", "power"): 1 for i in range(9)}
    assert len(report.compare_counts(expected, {})["examples"]) == 5


# --- latency --------------------------------------------------------------------------------------


def test_bus_readings_unpack_columns_with_their_arrival() -> None:
    bodies = [(10.0, orjson.dumps({"t": [1, 2], "s": ["a", "b"], "m": ["x", "y"], "v": [1.0, 2.0]})),
              (11.5, orjson.dumps({"t": [3], "s": ["c"], "m": ["z"], "v": [3.0]}))]
    at, sensors, metrics, times = report.bus_readings(bodies)
    assert at.tolist() == [10.0, 10.0, 11.5]
    assert sensors == ["a", "b", "c"]
    assert metrics == ["x", "y", "z"]
    assert times.tolist() == [1, 2, 3]


def test_commit_times_take_each_messages_first_reading_seen() -> None:
    # message 0: readings k1, k2; message 1: k3; message 2: untimed (-1), never matched
    expected_keys = arr([1, 2, 3, -1])
    expected_msg = arr([0, 0, 1, 2])
    seen_keys = arr([2, 1, 3, 99, -1])
    seen_at = np.array([5.0, 7.0, 6.0, 1.0, 0.5])
    out = report.commit_times(expected_keys, expected_msg, 3, seen_keys, seen_at)
    assert out[0] == 5.0
    assert out[1] == 6.0
    assert math.isnan(out[2])


def test_commit_times_with_nothing_seen_are_all_nan() -> None:
    out = report.commit_times(arr([1, 2]), arr([0, 1]), 2, arr([]), np.array([]))
    assert np.isnan(out).all()


def test_percentiles_ms_ignore_unmatched_messages() -> None:
    seconds = np.array([0.1] * 98 + [0.5, 2.0, np.nan])
    p = report.percentiles_ms(seconds)
    assert p["n"] == 100
    assert p["p50_ms"] == 100.0
    assert p["max_ms"] == 2000.0
    assert 100.0 < p["p99_ms"] <= 2000.0


def test_percentiles_ms_of_nothing() -> None:
    assert report.percentiles_ms(np.array([np.nan])) == {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None,
                                                         "max_ms": None}


# --- /proc and logs -------------------------------------------------------------------------------


def test_status_kib_reads_vmhwm_and_meminfo() -> None:
    status = "Name:\tpython\nVmPeak:\t  500000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t   99999 kB\n"
    assert report.status_kib(status, "VmHWM") == 123456
    assert report.status_kib("MemTotal:       24567890 kB\n", "MemTotal") == 24567890
    assert report.status_kib(status, "VmSwap") is None


def test_stat_cpu_ticks_survive_spaces_and_parentheses_in_the_command() -> None:
    fields = ["S", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "250", "50", "0", "0"]
    stat = "4242 (python -m (odd) name) " + " ".join(fields)
    assert report.stat_cpu_ticks(stat) == 300


def test_cpu_model() -> None:
    cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
    assert report.cpu_model(cpuinfo) == "Intel(R) Xeon(R) Processor"
    assert report.cpu_model("") == "?"


def test_ingest_log_diagnostics() -> None:
    log = "\n".join([
        "INFO citysense.ingest: batch committed: 8835 rows (0 duplicate), 0 rejected message(s), in 387.3 ms",
        "WARNING citysense.ingest.mqtt: disconnected from the broker (Packet too large); reconnecting with backoff",
        "INFO citysense.ingest: batch committed: 1837 rows (7795 duplicate), 0 rejected message(s), in 200.0 ms",
        "WARNING citysense.ingest.mqtt: disconnected from the broker (Normal disconnection); reconnecting",
    ])
    assert report.count_duplicates(log) == 7795
    assert report.count_disconnects(log) == 1


# --- targets and the table ------------------------------------------------------------------------


def _stages_fixture(backlog: int = 1_000_000) -> dict[str, dict[str, object]]:
    return {
        "receive_ceiling_json": {"messages": 500_000, "msg_per_s": 30_000, "verification": {"ok": True}},
        "naive_baseline": {"messages": 20_000, "msg_per_s": 1_500, "verification": {"ok": True}},
        "ingest_1_replica_backlog": {"messages": backlog, "msg_per_s": 21_000, "peak_rss_mb": [180.0],
                                     "verification": {"ok": True}},
        "ingest_replicas_backlog": {"messages": 500_000, "replicas": 2, "msg_per_s": 30_000,
                                    "peak_rss_mb": [150.0, 151.0], "verification": {"ok": True}},
        "latency_half_rate": {"messages": 200_000, "msg_per_s": 10_000, "latency": {"p50_ms": 150.0, "p99_ms": 1200.0},
                              "verification": {"ok": True}},
    }


def test_targets_are_judged_against_the_issue() -> None:
    got = {t.name: t for t in report.evaluate_targets(_stages_fixture())}
    assert got["ingest_vs_ceiling"].value == 0.7
    assert got["ingest_vs_ceiling"].met is True
    assert got["ingest_msg_per_s"].met is True
    assert got["ingest_vs_naive"].value == 14.0
    assert got["ingest_vs_naive"].met is True
    assert got["p99_latency_half_rate"].value == 1200.0
    assert got["p99_latency_half_rate"].met is False
    assert got["peak_rss_1m_backlog"].value == 180.0
    assert got["peak_rss_1m_backlog"].met is True


def test_targets_without_their_measurements_are_not_judged() -> None:
    stages = _stages_fixture(backlog=20_000)  # no 1M backlog: no RSS verdict
    del stages["naive_baseline"]
    stages["latency_half_rate"] = {"error": "boom"}
    got = {t.name: t for t in report.evaluate_targets(stages)}
    assert got["peak_rss_1m_backlog"].met is None
    assert got["ingest_vs_naive"].met is None
    assert got["ingest_vs_naive"].value is None
    assert got["p99_latency_half_rate"].met is None
    assert {t.name for t in report.evaluate_targets({})} == set(got)


def _writer_stage(new_cpu: float, steady_ratio: float, size: float) -> dict[str, object]:
    one = {"p50_ms": 100.0, "p90_ms": 120.0, "backend_cpu_us_per_msg": 40.0}
    return {
        "batches": 30, "messages_per_batch": 2000, "readings_per_batch": 9000,
        "writer": {**one, "backend_cpu_us_per_reading": new_cpu},
        "legacy_writer": {**one, "backend_cpu_us_per_reading": 20.0},
        "insert_only": {**one, "backend_cpu_us_per_reading": 5.0},
        "legacy_insert_only": {**one, "backend_cpu_us_per_reading": 8.0},
        "writer_cpu_vs_legacy": new_cpu / 20.0,
        "storage": {"legacy": {"bytes_per_reading": 226.0, "rows": 1000},
                    "series": {"bytes_per_reading": size, "rows": 1000}},
        "steady_fleet": {"batches": 30, "readings_per_batch": 2000,
                         "writer": {**one, "backend_cpu_us_per_reading": 9.0},
                         "legacy_writer": {**one, "backend_cpu_us_per_reading": 30.0},
                         "writer_cpu_vs_legacy": steady_ratio},
        "verification": {"ok": True},
    }


def test_storage_and_writer_targets_compare_the_two_models_of_one_run() -> None:
    stages = {"writer": _writer_stage(new_cpu=9.0, steady_ratio=0.6, size=84.5)}
    got = {t.name: t for t in report.evaluate_targets(stages)}
    assert got["raw_bytes_per_reading"].value == 84.5
    assert got["raw_bytes_per_reading"].met is True
    assert got["writer_cpu_vs_legacy"].value == 0.45
    assert got["writer_cpu_vs_legacy"].met is True
    assert got["steady_writer_cpu_vs_legacy"].met is False
    stages = {"writer": _writer_stage(new_cpu=12.0, steady_ratio=0.4, size=111.0)}
    got = {t.name: t for t in report.evaluate_targets(stages)}
    assert got["raw_bytes_per_reading"].met is False
    assert got["writer_cpu_vs_legacy"].met is False
    assert got["steady_writer_cpu_vs_legacy"].met is True
    text = report.table({"quick": False, "stages": stages, "targets": [t.as_json() for t in got.values()]})
    assert "raw table, legacy model: 226.0 bytes per reading" in text
    assert "series-keyed writer: 60% of the text-keyed writer's backend CPU" in text
    assert "steady fleet (30 batches of 2,000 series)" in text


def test_table_shows_stages_verdicts_and_machine() -> None:
    stages = _stages_fixture()
    stages["ingest_replicas_live"] = {"messages": 5, "error": "boom", "verification": {"ok": False}}
    rep = {"quick": False, "stages": stages, "targets": [t.as_json() for t in report.evaluate_targets(stages)],
           "machine": {"cpu_model": "Xeon", "cores": 2}}
    text = report.table(rep)
    assert "ingest x1, backlog drain" in text
    assert "ingest x2, backlog drain" in text
    assert "21,000" in text
    assert "150/151" in text
    assert "ERROR" in text
    assert "PASS" in text
    assert "MISS" in text
    assert "Xeon, 2 cores" in text


def test_table_of_a_quick_run_does_not_judge() -> None:
    stages = _stages_fixture(backlog=20_000)
    rep = {"quick": True, "stages": stages, "targets": [t.as_json() for t in report.evaluate_targets(stages)]}
    text = report.table(rep)
    assert "(PASS)" in text
    assert "(MISS)" in text
    assert "quick run" in text


# --- packets and options --------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                            (16_383, b"\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01")])
def test_varint(n: int, encoded: bytes) -> None:
    assert varint(n) == encoded


def test_publish_packet_is_mqtt5_qos1_with_offsets() -> None:
    packet, topic_at, id_at = publish_packet(b"tele/pow/SENSOR", b'{"x":1}')
    assert packet[0] == 0x32
    assert packet[1] == len(packet) - 2  # remaining length fits one byte here
    assert packet[topic_at:id_at] == b"tele/pow/SENSOR"
    assert packet[id_at:id_at + 3] == b"\x00\x00\x00"  # packet id (patched when sent), no properties
    assert packet[id_at + 3:] == b'{"x":1}'


def test_connect_packet_is_mqtt5_clean_start() -> None:
    packet = connect_packet("pub-1", None, None, keepalive=60)
    assert packet[0] == 0x10
    assert packet[2:9] == b"\x00\x04MQTT\x05"
    assert packet[9] == 0x02  # clean start, no credentials
    assert packet.endswith(b"\x00\x05pub-1")
    with_auth = connect_packet("p", "user", "pw")
    assert with_auth[9] == 0xC2
    assert with_auth.endswith(b"\x00\x04user\x00\x02pw")


def test_connack_receive_maximum() -> None:
    # flags, reason 0, properties: topic alias maximum (0x22) 10, receive maximum (0x21) 1000
    props = b"\x22\x00\x0a\x21\x03\xe8"
    assert connack_receive_maximum(b"\x00\x00" + bytes([len(props)]) + props) == 1000
    assert connack_receive_maximum(b"\x00\x00\x00") == 65535
    with pytest.raises(RuntimeError, match="0x87"):
        connack_receive_maximum(b"\x00\x87\x00")


def test_override_option_replaces_or_appends() -> None:
    conf = "listener 1883\nmax_packet_size 262144\n# max_packet_size in a comment\n"
    assert "max_packet_size 1048576\n" in override_option(conf, "max_packet_size", "1048576")
    assert "# max_packet_size in a comment" in override_option(conf, "max_packet_size", "1048576")
    assert override_option("listener 1883\n", "max_packet_size", "5").endswith("max_packet_size 5\n")


def test_stage_list_option() -> None:
    assert _stages("ceiling, latency") == ("ceiling", "latency")
    assert set(STAGES) >= {"ceiling", "naive", "ingest1", "replicas", "latency"}
    with pytest.raises(argparse.ArgumentTypeError):
        _stages("ceiling,warp")


def test_client_list_option() -> None:
    assert _clients("gmqtt, paho-batched,gmqtt") == ("gmqtt", "paho-batched")
    assert set(CLIENTS) >= {"paho-buffered", "paho-batched", "gmqtt", "gmqtt-uvloop"}
    assert "clients" in STAGES
    assert "clients" not in DEFAULT_STAGES  # the default report keeps its stages
    with pytest.raises(argparse.ArgumentTypeError):
        _clients("aiomqtt")
    with pytest.raises(argparse.ArgumentTypeError):
        _clients(" , ")


# --- rounds of the receive ceilings, other clients ------------------------------------------------


def _round(rate: int, cpu: float, ok: bool = True, **extra: object) -> dict[str, object]:
    return {"messages": 1000, "msg_per_s": rate, "readings_per_s": rate * 5, "seconds": 1000 / rate,
            "cpu_us_per_msg": cpu, "load_average_at_start": [1.0, 1.0, 1.0], "stage_seconds": 10.0,
            "verification": {"ok": ok, "received": 1000, "expected": 1000}, **extra}


def test_combine_rounds_takes_medians_and_keeps_every_round() -> None:
    got = report.combine_rounds([_round(10_000, 50.0), _round(14_000, 40.0), _round(12_000, 60.0)])
    assert got["msg_per_s"] == 12_000
    assert got["readings_per_s"] == 60_000
    assert got["cpu_us_per_msg"] == 50.0
    assert [r["msg_per_s"] for r in got["rounds"]] == [10_000, 14_000, 12_000]
    assert got["rounds"][0]["load_average_at_start"] == [1.0, 1.0, 1.0]
    assert got["stage_seconds"] == 30.0
    assert got["verification"]["ok"] is True
    assert len(got["verification"]["rounds"]) == 3
    assert "error" not in got


def test_combine_rounds_fails_when_one_round_failed() -> None:
    failed = {"messages": 1000, "error": "stalled", "verification": {"ok": False}, "stage_seconds": 60.0}
    got = report.combine_rounds([_round(10_000, 50.0), failed, _round(12_000, 40.0, ok=False)])
    assert got["msg_per_s"] == 11_000  # the median of the rounds that finished
    assert got["error"].startswith("1 of 3 rounds failed: stalled")
    assert got["verification"]["ok"] is False


def test_combine_rounds_of_one_is_that_round() -> None:
    one = _round(10_000, 50.0)
    assert report.combine_rounds([one]) == one
    assert report.combine_rounds([])["verification"]["ok"] is False


def test_table_shows_rounds_and_skipped_clients() -> None:
    stages = {
        "receive_ceiling_json": report.combine_rounds([_round(10_000, 50.0), _round(12_000, 52.0)]),
        "receive_ceiling_gmqtt": {"messages": 1000, "skipped": "gmqtt not installed",
                                  "verification": {"ok": True, "skipped": True}},
    }
    text = report.table({"quick": False, "stages": stages, "targets": [],
                         "machine": {"cpu_model": "Xeon", "cores": 2, "gmqtt": "0.8.0"}})
    assert "receive ceiling (gmqtt, orjson)" in text
    assert "skipped" in text
    assert "gmqtt not installed" in text
    assert "median 11,000 msg/s, 51.0 µs CPU/msg; rounds: 10,000 (50.0), 12,000 (52.0)" in text
    assert "gmqtt 0.8.0" in text


def test_a_client_that_is_not_installed_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from bench.stages import ceiling as stages

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    got = stages.stage_ceiling(None, "gmqtt", 1000)  # type: ignore[arg-type]  # skipped before the bench is used
    assert got["verification"] == {"ok": True, "skipped": True}
    assert "gmqtt not installed" in got["skipped"]
    assert "gmqtt and uvloop not installed" in stages.stage_ceiling(None, "gmqtt-uvloop", 10)["skipped"]  # type: ignore[arg-type]
