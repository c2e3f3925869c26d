#!/usr/bin/env bash
# load.sh starts a runtime on a loopback port with test/loadgen/runtime.yaml
# and runs the load generator against it, then stops the runtime. Extra
# arguments go to the load generator; the default is a paced fan-out of
# 50 publishes a second to 5,000 subscribers for 10s (250,000 deliveries
# a second offered). LOAD_CONFIG picks another runtime config.
set -euo pipefail
cd "$(dirname "$0")/.."
export JWT_SECRET="${JWT_SECRET:-load-secret-0123456789abcdef0123456789}"
port="${LOAD_PORT:-18090}"
bin="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -o "$bin/runtime" ./cmd/runtime
go build -o "$bin/loadgen" ./test/loadgen
PORT="$port" HOST=127.0.0.1 "$bin/runtime" --config "${LOAD_CONFIG:-test/loadgen/runtime.yaml}" &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--conns 5000 --hold 1s --concurrency 16 --rate 50 --duration 10s)
"$bin/loadgen" --url "ws://127.0.0.1:$port/ws" --pid "$pid" "${args[@]}"
