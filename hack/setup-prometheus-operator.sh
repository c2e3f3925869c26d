#!/usr/bin/env bash
# setup-prometheus-operator.sh copies the Prometheus Operator's
# ServiceMonitor and PrometheusRule CRDs from its module on the Go module
# proxy into a cache keyed by version, for the test that applies the
# chart, with its ServiceMonitor and alerts, to a real API server. It is
# idempotent and prints the directory.
set -euo pipefail

VERSION="${PROMETHEUS_OPERATOR_VERSION:-0.85.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/prometheus-operator/${VERSION}"
CRDS=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

log() { printf 'setup-prometheus-operator: %s\n' "$*" >&2; }

if [ ! -f "$CACHE/${CRDS[-1]}" ]; then
	log "fetching github.com/prometheus-operator/prometheus-operator@v${VERSION} from the Go module proxy"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	# Outside this module, so its go.sum stays as it is.
	dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/prometheus-operator/prometheus-operator@v${VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$dir" ] || { log "go mod download gave no directory"; exit 1; }
	mkdir -p "$CACHE"
	for crd in "${CRDS[@]}"; do
		cp "$dir/example/prometheus-operator-crd/$crd" "$CACHE/$crd.tmp"
		mv "$CACHE/$crd.tmp" "$CACHE/$crd"
	done
fi
printf '%s\n' "$CACHE"
