"""HTTP push: device payloads POSTed to `/api/v1/ingest/{source}` are checked with ingest's own
decode step and put, unchanged, on the MQTT topic their format already has, at QoS 1. The sender is
answered 202 only after the broker's PUBACK; ingest stays the single writer of readings.

sources: which topic a pushed payload gets (pure); publisher: the API's one MQTT connection for it.
"""
