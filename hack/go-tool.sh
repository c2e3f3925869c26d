#!/usr/bin/env bash
# go-tool.sh NAME PACKAGE VERSION builds a Go command from the module proxy
# (nothing else can be reached from here) into a cache outside the work
# tree, keyed by name and version, and prints the binary's path. It is
# idempotent: a cached binary is used as it is. The setup-*.sh scripts
# pin each tool's version and call it.
set -euo pipefail

NAME="$1"
PACKAGE="$2"
VERSION="$3"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/${NAME}/${VERSION}"

if [ ! -x "$CACHE/$NAME" ]; then
	printf '%s: building %s v%s (once per version)\n' "$NAME" "$PACKAGE" "$VERSION" >&2
	mkdir -p "$CACHE"
	GOBIN="$CACHE" CGO_ENABLED=0 go install "${PACKAGE}@v${VERSION}"
fi
echo "$CACHE/$NAME"
