"""`citysense api`: the HTTP API and the dashboard.

app.py builds the FastAPI app; routes/ the endpoints, answers/ what they compute (between routes
and SQL), queries/ the SQL, analysis/, aggregation.py and timebuckets.py the pure maths,
schemas.py the response models, auth.py the access decision, sensor_cache.py the cached sensor
registry, live/ the live feed (following ingest's live bus), dashboard/ the static page.
"""
