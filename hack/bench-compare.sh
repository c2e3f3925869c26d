#!/usr/bin/env bash
# bench-compare.sh measures the runtime and Centrifugo side by side with
# the project's load generator, one server at a time, each fresh for each
# run, on loopback: N idle connections held (memory per connection), M
# handshakes (JWT, connected, a subscribe) at concurrency 50 from 32
# loopback addresses (rate and server CPU per handshake), then paced
# fan-outs to 5,000 subscribers of one channel at stepped rates,
# published through each server's HTTP API. It prints both servers'
# figures, their ratio, and the highest rate each sustained (every
# publish on time, nothing lost, p99 within 500ms).
# Centrifugo is built from the Go module proxy once per version
# (hack/setup-centrifugo.sh, CENTRIFUGO_VERSION); it runs with its
# in-memory engine, as the runtime does here.
#
#   BENCH_IDLE_CONNS (19000)  idle connections; 0 skips the idle run
#   BENCH_HANDSHAKES (19000)  handshakes; 0 skips them
#   BENCH_SUBSCRIBERS (5000)  fan-out subscribers
#   BENCH_RATES (10 20 30 50) publishes a second to all of them, one run each; "" skips the fan-out
#   BENCH_DURATION (10s)      how long the fan-out publishes
#   BENCH_OUT (a temp dir)    where the result lines are kept
set -euo pipefail
cd "$(dirname "$0")/.."
secret="bench-compare-secret-0123456789abcdef0123"
idle="${BENCH_IDLE_CONNS:-19000}"
handshakes="${BENCH_HANDSHAKES:-19000}"
subs="${BENCH_SUBSCRIBERS:-5000}"
rates="${BENCH_RATES-10 20 30 50}"
duration="${BENCH_DURATION:-10s}"
out="${BENCH_OUT:-$(mktemp -d)}"
mkdir -p "$out"
bin="$(mktemp -d)"
pid=""
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }; }
trap 'stop; rm -rf "$bin"' EXIT

echo "building the runtime, the load generator and Centrifugo (once per version)..." >&2
CGO_ENABLED=0 go build -o "$bin/runtime" ./cmd/runtime
go build -o "$bin/loadgen" ./test/loadgen
centrifugo="$(./hack/setup-centrifugo.sh)"
cat >"$bin/centrifugo.json" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": 18190},
  "client": {"token": {"hmac_secret_key": "$secret"}, "allowed_origins": ["*"]},
  "http_api": {"key": "$secret"},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true}},
  "prometheus": {"enabled": true},
  "health": {"enabled": true},
  "log": {"level": "error"}
}
JSON

wait_live() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "the server did not answer $1" >&2; return 1
}
start_runtime() {
  PORT=18191 HOST=127.0.0.1 JWT_SECRET="$secret" "$bin/runtime" --config test/loadgen/runtime.yaml &
  pid=$!; wait_live http://127.0.0.1:18191/health/live
}
start_centrifugo() {
  "$centrifugo" --config "$bin/centrifugo.json" >"$out/centrifugo.log" 2>&1 &
  pid=$!; wait_live http://127.0.0.1:18190/health
}
# run NAME URL PROTOCOL START: an idle run, then a paced fan-out, each on
# a fresh server; the result lines go to $out/NAME.jsonl.
run() {
  local name=$1 url=$2 proto=$3 start=$4
  : >"$out/$name.jsonl"
  if [ "$idle" -gt 0 ]; then
    echo "== $name: $idle idle connections" >&2
    $start
    "$bin/loadgen" --url "$url" --protocol "$proto" --secret "$secret" --pid "$pid" --conns "$idle" \
      --concurrency 32 --sources 8 --hold 10s | tee -a "$out/$name.jsonl" >&2
    stop
  fi
  if [ "$handshakes" -gt 0 ]; then
    echo "== $name: $handshakes handshakes, concurrency 50, 32 source addresses" >&2
    $start
    "$bin/loadgen" --url "$url" --protocol "$proto" --secret "$secret" --pid "$pid" --mode connect-rate \
      --conns "$handshakes" --concurrency 50 --sources 32 | tee -a "$out/$name.jsonl" >&2 || true
    stop
  fi
  for rate in $rates; do
    echo "== $name: paced fan-out, $subs subscribers, $rate publishes a second for $duration" >&2
    $start
    "$bin/loadgen" --url "$url" --protocol "$proto" --secret "$secret" --pid "$pid" --conns "$subs" \
      --concurrency 16 --hold 1s --rate "$rate" --duration "$duration" | tee -a "$out/$name.jsonl" >&2 || true
    stop
  done
}
run fleetwire ws://127.0.0.1:18191/ws native start_runtime
run centrifugo ws://127.0.0.1:18190/connection/websocket centrifugo start_centrifugo
echo "results in $out; $(nproc) cores, $(date -u +%Y-%m-%d)" >&2
"$bin/loadgen" --mode compare --results "$out/fleetwire.jsonl,$out/centrifugo.jsonl" --names "Fleetwire,Centrifugo v${CENTRIFUGO_VERSION:-6.9.1}"
