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
# in-memory engine, as the runtime does here. With BENCH_NODES above 1,
# each server runs that many nodes on one fresh redis-server (Centrifugo
# with its Redis engine); the connections go round-robin over the nodes
# and the publishes through the first, whose process the server figures
# (RSS, CPU) come from.
#
#   BENCH_NODES (1)           nodes per server; above 1 they share a redis-server
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
nodes="${BENCH_NODES:-1}"
out="${BENCH_OUT:-$(mktemp -d)}"
mkdir -p "$out"
bin="$(mktemp -d)"
pid=""     # the first node, whose figures the generator reads
pids=""    # every process of the server under test, and its redis-server
stop() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  pid="" pids=""
}
trap 'stop; rm -rf "$bin"' EXIT

echo "building the runtime, the load generator and Centrifugo (once per version)..." >&2
CGO_ENABLED=0 go build -o "$bin/runtime" ./cmd/runtime
go build -o "$bin/loadgen" ./test/loadgen
centrifugo="$(./hack/setup-centrifugo.sh)"
# centrifugo_config PORT ENGINE writes Centrifugo's config for a node.
centrifugo_config() {
  cat >"$bin/centrifugo-$1.json" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $1},
  "client": {"token": {"hmac_secret_key": "$secret"}, "allowed_origins": ["*"]},
  "http_api": {"key": "$secret"},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true}},
  $2
  "prometheus": {"enabled": true},
  "health": {"enabled": true},
  "log": {"level": "error"}
}
JSON
}
redis_port=18199

wait_live() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "the server did not answer $1" >&2; return 1
}
# start_redis starts a fresh, empty redis-server when the servers run
# several nodes.
start_redis() {
  [ "$nodes" -gt 1 ] || return 0
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
  pids="$pids $!"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start" >&2; return 1
}
start_runtime() {
  start_redis
  local redis=""
  [ "$nodes" -gt 1 ] && redis="redis://127.0.0.1:$redis_port"
  for i in $(seq 0 $((nodes - 1))); do
    PORT=$((18191 + i * 10)) HOST=127.0.0.1 JWT_SECRET="$secret" REDIS_URL="$redis" "$bin/runtime" --config test/loadgen/runtime.yaml &
    pids="$pids $!"; [ -n "$pid" ] || pid=$!
    wait_live "http://127.0.0.1:$((18191 + i * 10))/health/live"
  done
}
start_centrifugo() {
  start_redis
  local engine=""
  [ "$nodes" -gt 1 ] && engine="\"engine\": {\"type\": \"redis\", \"redis\": {\"address\": [\"redis://127.0.0.1:$redis_port\"]}},"
  for i in $(seq 0 $((nodes - 1))); do
    centrifugo_config $((18190 + i * 10)) "$engine"
    "$centrifugo" --config "$bin/centrifugo-$((18190 + i * 10)).json" >"$out/centrifugo-$i.log" 2>&1 &
    pids="$pids $!"; [ -n "$pid" ] || pid=$!
    wait_live "http://127.0.0.1:$((18190 + i * 10))/health"
  done
}
# urls PORT PATH lists the nodes' WebSocket URLs, the first node first.
urls() {
  local list=""
  for i in $(seq 0 $((nodes - 1))); do list="$list${list:+,}ws://127.0.0.1:$(($1 + i * 10))$2"; done
  echo "$list"
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
run fleetwire "$(urls 18191 /ws)" native start_runtime
run centrifugo "$(urls 18190 /connection/websocket)" centrifugo start_centrifugo
echo "results in $out; $(nproc) cores, $nodes node(s) each, $(date -u +%Y-%m-%d)" >&2
"$bin/loadgen" --mode compare --results "$out/fleetwire.jsonl,$out/centrifugo.jsonl" --names "Fleetwire,Centrifugo v${CENTRIFUGO_VERSION:-6.9.1}"
