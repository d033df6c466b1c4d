from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citysense import live_bus
from ingest.prepare import PreparedBatch


def test_round_trip_and_split() -> None:
    n = live_bus.MAX_READINGS_PER_MESSAGE + 3
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    batch = PreparedBatch(
        times=[t0 + timedelta(milliseconds=i) for i in range(n)],
        sensor_ids=[f"s{i % 7}" for i in range(n)],
        metrics=["power"] * n,
        values=[float(i) for i in range(n)],
    )
    bodies = list(live_bus.encode(batch))
    assert len(bodies) == 2
    rows = [row for body in bodies for row in live_bus.decode(body)]
    assert rows[0] == (int(t0.timestamp() * 1000), "s0", "power", 0.0)
    assert rows[-1][1:] == (f"s{(n - 1) % 7}", "power", float(n - 1))
    assert len(rows) == n


@pytest.mark.parametrize("payload", [b"", b"{}", b"[1]", b'{"t":[1],"s":[],"m":[],"v":[]}'])
def test_malformed_messages_raise_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError, match="malformed live-bus message"):
        live_bus.decode(payload)


def test_every_bus_message_fits_the_brokers_packet_limit() -> None:
    # Worst case: long sensor ids and metric names, full-precision values.
    n = 25_000
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    batch = PreparedBatch(
        times=[t0 + timedelta(milliseconds=i) for i in range(n)],
        sensor_ids=[f"shelly:shellies/some-long-prefix/shellypro3em-a8032ab12345:l{i % 3}" for i in range(n)],
        metrics=["apparent_power"] * n,
        values=[1 / 3 + i for i in range(n)],
    )
    sizes = [len(body) for body in live_bus.encode(batch)]
    assert max(sizes) < 256 * 1024 // 2  # half the shipped max_packet_size, with room for the topic
