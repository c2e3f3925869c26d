#!/usr/bin/env bash
# setup-cluster.sh builds what the autoscaling test's local cluster runs
# beside envtest's kube-apiserver and etcd: kube-controller-manager, from
# k8s.io/kubernetes (hack/lib-k8s.sh), and kwok (sigs.k8s.io/kwok), which
# fakes a node and the kubelet's work on pods. Both come from the Go module
# proxy, into the cache beside the envtest binaries, keyed by version, with
# kwok's Stage objects (how fake nodes and pods move through their
# lifecycle), copied from its module. It is idempotent and prints the
# directory that holds kube-controller-manager, kwok and stages.yaml.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/k8s/${K8S_VERSION}"
KWOK_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/kwok/${KWOK_VERSION}"

log() { printf 'setup-cluster: %s\n' "$*" >&2; }
# shellcheck source=hack/lib-k8s.sh
. "$(dirname "$0")/lib-k8s.sh"

build_kwok() {
	local work
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' RETURN
	log "building kwok v${KWOK_VERSION}"
	(
		cd "$work"
		go mod init fleetwire.local/kwok >/dev/null 2>&1
		GOFLAGS=-mod=mod go get "sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}" >/dev/null 2>&1
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$KWOK_CACHE/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
		mv "$KWOK_CACHE/kwok.tmp" "$KWOK_CACHE/kwok"
	)
}

# write_stages writes the stages of kwokctl's default cluster (fast node
# and pod lifecycles, and node heartbeats) into one file for kwok's
# --config. It runs every time: it is quick, and the file follows this
# script. A running pod's containers are marked started, as a kubelet
# marks them once their startup probe passes: the operator counts only
# started runtimes.
write_stages() {
	local src
	src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@v${KWOK_VERSION}/kustomize/stage"
	[ -d "$src" ] || (cd "$(mktemp -d)" && go mod download "sigs.k8s.io/kwok@v${KWOK_VERSION}")
	for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		if [ "$f" = pod/fast/pod-ready.yaml ]; then
			# The first restartCount is the regular containers' (init
			# containers come after).
			sed '0,/^        restartCount: 0$/s//        restartCount: 0\n        started: true/' "$src/$f"
		else
			cat "$src/$f"
		fi
		printf '\n---\n'
	done >"$KWOK_CACHE/stages.yaml.tmp"
	grep -q '^        started: true$' "$KWOK_CACHE/stages.yaml.tmp" || { log "pod-ready stage not patched"; exit 1; }
	mv "$KWOK_CACHE/stages.yaml.tmp" "$KWOK_CACHE/stages.yaml"
}

mkdir -p "$CACHE" "$KWOK_CACHE"
[ -x "$CACHE/kube-controller-manager" ] || build_k8s_cmd kube-controller-manager
[ -x "$KWOK_CACHE/kwok" ] || build_kwok
write_stages
ln -sf "$CACHE/kube-controller-manager" "$KWOK_CACHE/kube-controller-manager"
"$CACHE/kube-controller-manager" --version >&2
"$KWOK_CACHE/kwok" --version >&2 || true
echo "$KWOK_CACHE"
