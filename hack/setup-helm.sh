#!/usr/bin/env bash
# setup-helm.sh builds the helm CLI from the Go module proxy (nothing else
# can be reached from here) into a cache outside the work tree, keyed by
# version, for the chart tests. It is idempotent and prints the binary's
# path.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-3.22.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/helm/${HELM_VERSION}"

if [ ! -x "$CACHE/helm" ]; then
	printf 'setup-helm: building helm v%s (about a minute, once per version)\n' "$HELM_VERSION" >&2
	mkdir -p "$CACHE"
	GOBIN="$CACHE" CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}"
fi
echo "$CACHE/helm"
