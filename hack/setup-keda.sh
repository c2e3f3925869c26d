#!/usr/bin/env bash
# setup-keda.sh copies KEDA's CRDs (ScaledObject and TriggerAuthentication)
# from its module on the Go module proxy into a cache keyed by version, for
# the test that the keda autoscaling provider's ScaledObject is valid
# against KEDA's own schema. It is idempotent and prints the directory.
set -euo pipefail

KEDA_VERSION="${KEDA_VERSION:-2.18.1}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/keda/${KEDA_VERSION}"

log() { printf 'setup-keda: %s\n' "$*" >&2; }

if [ ! -f "$CACHE/keda.sh_scaledobjects.yaml" ]; then
	log "fetching github.com/kedacore/keda/v2@v${KEDA_VERSION} from the Go module proxy"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	# Outside this module, so its go.sum stays as it is.
	dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@v${KEDA_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$dir" ] || { log "go mod download gave no directory"; exit 1; }
	mkdir -p "$CACHE"
	for crd in keda.sh_scaledobjects.yaml keda.sh_triggerauthentications.yaml; do
		cp "$dir/config/crd/bases/$crd" "$CACHE/$crd.tmp"
		mv "$CACHE/$crd.tmp" "$CACHE/$crd"
	done
fi
printf '%s\n' "$CACHE"
