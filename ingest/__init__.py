"""`citysense ingest`: MQTT -> TimescaleDB, each reading stored once.

Pure: decoders/ (one module per vendor format; registry.py routes a topic to its decoder),
derived.py, validation.py, prepare.py (decode -> derive -> validate a batch), batching.py.
I/O: mqtt_socket.py and mqtt_session.py (paho), writer.py, retention.py, telemetry.py, and
consumer.py, the process that runs them. decode_cli.py is `citysense decode`.
"""
