"""`citysense bench`: ingest throughput and latency, measured side by side on one machine, and the
API latency benchmark (api_latency.py). Not part of the product: the service image leaves it out.

fleet.py is the bench fleet, messages.py generates (and caches) the realistic message set from
it, broker.py holds the publishers, persistent sessions and the live-bus listener (the private
Mosquitto itself is devenv.mosquitto), consumers.py the bare clients of the receive ceiling and
the naive baseline. harness.py is what every stage runs on, stages/ one module per stage, run.py
runs them and prints the report; report.py is the pure arithmetic and the table. See
docs/performance.md for the method and the latest figures.
"""
