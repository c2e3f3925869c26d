#!/usr/bin/env bash
# load-artillery.sh runs test/load/socketio.yml with Artillery against a
# runtime it starts on a loopback port (test/loadgen/runtime.yaml), then
# stops the runtime. LOAD_DURATION and LOAD_RATE shape the arrivals
# (default 30s, 10 users a second); extra arguments go to artillery run.
set -euo pipefail
cd "$(dirname "$0")/.."
art="$(./hack/setup-artillery.sh)"
export JWT_SECRET="${JWT_SECRET:-load-secret-0123456789abcdef0123456789}"
port="${LOAD_PORT:-18094}"
export FLEETWIRE_URL="http://127.0.0.1:$port" LOAD_DURATION="${LOAD_DURATION:-30}" LOAD_RATE="${LOAD_RATE:-10}"
bin="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -o "$bin/runtime" ./cmd/runtime
PORT="$port" HOST=127.0.0.1 "$bin/runtime" --config test/loadgen/runtime.yaml &
pid=$!
for _ in $(seq 50); do curl -sf "$FLEETWIRE_URL/health/live" >/dev/null && break; sleep 0.1; done
"$art/node_modules/.bin/artillery" run "$@" test/load/socketio.yml
