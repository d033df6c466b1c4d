"""Between routes and SQL: each module answers one group of endpoints, running the queries a response
needs and applying the pure maths (api.analysis, api.aggregation)."""
