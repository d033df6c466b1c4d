"""Pollers: sources that must be asked (HTTP APIs) rather than publishing themselves.

A poller turns each record of an API answer, unchanged, into the MQTT message the format's
decoder already reads (`telraam/<segment>/traffic`, `airrohr/<sensor>`), publishes it at QoS 1
and moves on only after the broker's PUBACK. Ingest stays the single writer of readings, so its
guarantees (stored once, dead-lettered with a reason, live feed after commit, metrics) hold for
polled data as they do for pushed data. Resume points come from the database, never from the
poller's memory alone: a crash between PUBACK and commit re-asks, and the unique key absorbs it.

Pure planning and parsing: hours, budget, telraam_rows, area. I/O: publishing (MQTT),
telraam_poller and area_poller (HTTP + database), running (the loop, signals, backoff),
telemetry (Prometheus), command (`citysense poll`). They may import ingest, never api or
simulators (tests/unit/test_layering.py).
"""
