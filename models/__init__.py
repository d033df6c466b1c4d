"""The domain: what a reading is (reading.py), the canonical metrics with their units and
physical ranges (metrics.py), Leuven's districts (districts.py), how the rollups treat each
metric (rollups.py), and the database schema (migrations/, applied by migrate.py).

It imports no other package of the project: everything else builds on it.
"""
