#!/usr/bin/env bash
# setup-staticcheck.sh builds staticcheck from the Go module proxy into a
# cache outside the work tree, keyed by version, for `make lint` (which
# `make test` runs). It is idempotent and prints the binary's path.
set -euo pipefail

STATICCHECK_VERSION="${STATICCHECK_VERSION:-0.8.2}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/staticcheck/${STATICCHECK_VERSION}"

if [ ! -x "$CACHE/staticcheck" ]; then
	printf 'setup-staticcheck: building staticcheck v%s (once per version)\n' "$STATICCHECK_VERSION" >&2
	mkdir -p "$CACHE"
	GOBIN="$CACHE" CGO_ENABLED=0 go install "honnef.co/go/tools/cmd/staticcheck@v${STATICCHECK_VERSION}"
fi
echo "$CACHE/staticcheck"
