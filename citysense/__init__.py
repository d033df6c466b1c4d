"""The ground every part of citysense stands on, and the command on top of it all.

Ground (imports nothing of ingest, api, simulators, bench or devenv): settings.py (CITYSENSE_*),
endpoints.py (broker and database URLs, the local ports), api_keys.py, live_bus.py (the wire
format ingest publishes and the API follows), backoff.py. The roof: cli.py, the `citysense`
command, which reaches every part lazily. tests/unit/test_layering.py holds both to that.
"""
