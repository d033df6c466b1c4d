#!/usr/bin/env bash
# `make demo`: backfill some history (once), then run ingest, the API, the simulators and the
# Telraam poller (against the simulated Telraam API) side by side with their logs
# interleaved, until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=.venv/bin
HOST=${CITYSENSE_API_HOST:-127.0.0.1}
# The demo API is on loopback with simulated data: let anyone on this machine read it.
export CITYSENSE_PUBLIC_READ=${CITYSENSE_PUBLIC_READ:-true}
PORT=${CITYSENSE_API_PORT:-8000}
URL="http://$HOST:$PORT"

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo; echo "demo: stopping (ingest commits and acknowledges what it holds first)…"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
    echo "demo: stopped. The services keep running; \`$BIN/citysense services down\` stops them."
}
trap cleanup INT TERM EXIT

prefix() { sed -u "s/^/[$1] /"; }

if [ "$($BIN/python -m devenv.has_data)" = "empty" ]; then
    echo "demo: the database is empty: backfilling 7 days of simulated history first…"
    $BIN/citysense backfill --days 7 2>&1 | prefix backfill
fi

$BIN/citysense ingest 2>&1 | prefix ingest &
pids+=($!)
$BIN/citysense api --host "$HOST" --port "$PORT" 2>&1 | prefix api &
pids+=($!)

# curl is not on every fresh machine; the venv's Python is.
$BIN/python - "$URL/health" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        break
    except OSError:
        time.sleep(0.2)
PY

$BIN/citysense simulate --speed 1 2>&1 | prefix simulate &
pids+=($!)

# The poller path: a Telraam-shaped API serving the simulated counters, and `citysense poll
# telraam` reading the registry's segments from it. The MQTT simulation publishes the same
# hours (same encoder, same seed): ingest stores each once, whichever path brings it first.
TELRAAM_PORT=${CITYSENSE_DEMO_TELRAAM_PORT:-8091}
$BIN/citysense simulate telraam-api --port "$TELRAAM_PORT" 2>&1 | prefix telraam-api &
pids+=($!)
CITYSENSE_TELRAAM_URL="http://127.0.0.1:$TELRAAM_PORT" CITYSENSE_TELRAAM_DAILY_CALLS=100000 \
    CITYSENSE_TELRAAM_INTERVAL_S=60 $BIN/citysense poll telraam 2>&1 | prefix poll-telraam &
pids+=($!)

cat <<MSG

  citysense is running.
    dashboard     $URL/
    API docs      $URL/docs
    health        curl $URL/health
    sensors       curl $URL/api/v1/sensors
    readings      curl '$URL/api/v1/sensors/<sensor id>/readings?metric=power'
    ingest stats  curl http://127.0.0.1:9108/metrics
    Telraam API   simulated on http://127.0.0.1:$TELRAAM_PORT, read by \`citysense poll telraam\`
  Ctrl-C stops ingest, API, simulators and poller.

MSG
wait
