"""The bench's stages, one module each: the receive ceiling of bare MQTT clients (ceiling), a
naive INSERT-per-message consumer (naive), ingest live and draining a backlog with one or more
replicas (ingestion), publish-to-commit latency at a paced rate (latency), and the database
write alone (writer). Each is a function of the harness (bench.harness.Bench) returning its
JSON-able result; bench/run.py runs the ones asked for."""
