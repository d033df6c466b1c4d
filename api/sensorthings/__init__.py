"""OGC SensorThings API 1.1 (read-only): data model, query options, documents (pure) and the resolver."""
