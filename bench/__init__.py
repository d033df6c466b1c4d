"""`citysense bench`: ingest throughput and latency, measured side by side on one machine, and the
API latency benchmark (api_latency.py). Not part of the product: the service image leaves it out.

messages.py generates (and caches) the realistic message set, broker.py runs the private
Mosquitto, the publishers and the live-bus listener, consumers.py holds the receive ceiling
and the naive baseline, stages.py runs the stages, report.py is the pure arithmetic and the
table. See docs/performance.md for the method and the latest figures.
"""
