#!/usr/bin/env bash
# fleet-scale.sh runs a fleet of runtimes on one redis-server, all on
# loopback, and holds PER_NODE idle, authenticated connections on each,
# every one subscribed to bench:all, a channel whose namespace records
# presence. One load generator per node (the file limit is per process).
# While they are held it measures each node's RSS per connection, Redis's
# memory, CPU and operations a second over a 30s window, how long a
# fleet-wide GET /admin/connections takes, and a broadcast: the API call,
# and when the last connection got it. The figures feed the cost model in
# docs/benchmarks.md.
#
#   NODES (10), PER_NODE (19500), REDIS_PORT (18300), BASE_PORT (18310),
#   OUT (a temp dir: logs and result lines)
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${NODES:-10}"
per="${PER_NODE:-19500}"
rport="${REDIS_PORT:-18300}"
base="${BASE_PORT:-18310}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
export JWT_SECRET="fleet-scale-secret-0123456789abcdef0123"
bin="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$bin"
}
trap cleanup EXIT
command -v redis-server >/dev/null || ./hack/setup-test-env.sh >&2

echo "building..." >&2
CGO_ENABLED=0 go build -o "$bin/runtime" ./cmd/runtime
go build -o "$bin/loadgen" ./test/loadgen
cat >"$bin/fleet.yaml" <<YAML
rateLimit:
  max: 0
  connectionsPerIP: {limit: 0}
  connectionsPerUser: 0
limits:
  maxConnections: 20000
channels:
  namespaces:
    bench:
      presence: true
log:
  level: warn
YAML

redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$out/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
rinfo() { redis-cli -p "$rport" info "$1" | tr -d '\r'; }
rfield() { rinfo "$1" | awk -F: -v k="$2" '$1==k {print $2}'; }
calc() { awk "BEGIN { printf \"%.2f\", $* }"; }

for i in $(seq 0 $((nodes - 1))); do
  PORT=$((base + i)) HOST=127.0.0.1 REDIS_URL="redis://127.0.0.1:$rport" "$bin/runtime" --config "$bin/fleet.yaml" >"$out/node$i.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$out/node$i.pid"
done
for i in $(seq 0 $((nodes - 1))); do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((base + i))/health/ready" >/dev/null && break; sleep 0.1; done
done
mem0=$(rfield memory used_memory)
echo "redis used_memory with the fleet up and no connections: $mem0 bytes" | tee "$out/summary.txt" >&2

start=$(date +%s.%N)
for i in $(seq 0 $((nodes - 1))); do
  "$bin/loadgen" --url "ws://127.0.0.1:$((base + i))/ws" --pid "$(cat "$out/node$i.pid")" --conns "$per" \
    --concurrency 8 --sources 16 --user-prefix "n$i-" --hold 45s --await-broadcast 120s --deadline 15m >"$out/loadgen$i.log" 2>&1 &
  pids+=($!)
done
# Wait for every generator to have connected, then measure while they hold.
for i in $(seq 0 $((nodes - 1))); do
  for _ in $(seq 1800); do grep -q "^connected and subscribed" "$out/loadgen$i.log" && break; sleep 0.5; done
done
connected=$(date +%s.%N)
echo "all $((nodes * per)) connected and subscribed in $(calc "$connected - $start") s" | tee -a "$out/summary.txt" >&2
sleep 5
ops0=$(rfield stats total_commands_processed)
cpu0=$(calc "$(rfield cpu used_cpu_user) + $(rfield cpu used_cpu_sys)")
t0=$(date +%s.%N)
sleep 30
ops1=$(rfield stats total_commands_processed)
cpu1=$(calc "$(rfield cpu used_cpu_user) + $(rfield cpu used_cpu_sys)")
t1=$(date +%s.%N)
mem1=$(rfield memory used_memory)
{
  echo "redis over $(calc "$t1 - $t0") s held: $(( (ops1 - ops0) )) commands, $(calc "($ops1 - $ops0) / ($t1 - $t0)") a second; CPU $(calc "$cpu1 - $cpu0") s; used_memory $mem1 bytes ($(( (mem1 - mem0) / (nodes * per) )) bytes per connection)"
  echo "redis keys: $(redis-cli -p "$rport" dbsize)"
} | tee -a "$out/summary.txt" >&2

admin=$("$bin/runtime" token --user fleet-admin --roles admin,service --ttl 1h)
curl -s -o "$out/connections.json" -w "GET /admin/connections: HTTP %{http_code} in %{time_total} s\n" \
  -H "Authorization: Bearer $admin" "http://127.0.0.1:$base/admin/connections" | tee -a "$out/summary.txt" >&2
echo "  $(head -c 300 "$out/connections.json")" | tee -a "$out/summary.txt" >&2

# Every generator prints "awaiting a broadcast" once its hold is over.
for i in $(seq 0 $((nodes - 1))); do
  for _ in $(seq 600); do grep -q "^awaiting a broadcast" "$out/loadgen$i.log" && break; sleep 0.5; done
done
sent=$(date +%s%N)
curl -s -o /dev/null -w "POST /ws/broadcast: HTTP %{http_code} in %{time_total} s\n" -H "Authorization: Bearer $admin" \
  -H "Content-Type: application/json" -d "{\"type\":\"bench\",\"payload\":{\"sent\":$sent}}" \
  "http://127.0.0.1:$base/ws/broadcast" | tee -a "$out/summary.txt" >&2
for i in $(seq 0 $((nodes - 1))); do
  n=$((${#pids[@]} - nodes + i))
  wait "${pids[$n]}" || echo "loadgen $i failed; see $out/loadgen$i.log" >&2
  grep -E "^server RSS after|^broadcast:" "$out/loadgen$i.log" | sed "s/^/node $i: /" | tee -a "$out/summary.txt" >&2
done
echo "results in $out" >&2
