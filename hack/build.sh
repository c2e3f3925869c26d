#!/usr/bin/env bash
# build.sh OUTDIR builds every command under cmd/ into OUTDIR as
# fleetwire-<name>: static (CGO_ENABLED=0), with -trimpath, and with the
# version, commit and build date injected (runtime/buildinfo). The
# Dockerfile runs exactly this, and so does `make build`; test/build runs
# it and checks what --version prints.
#
#   VERSION (git describe, or dev), COMMIT (git rev-parse HEAD, or unknown),
#   DATE (now, UTC, RFC 3339)
set -euo pipefail
out="${1:?usage: build.sh OUTDIR}"
cd "$(dirname "$0")/.."
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
commit="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
date="${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
pkg=github.com/fleetwire/fleetwire/runtime/buildinfo
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit -X $pkg.Date=$date"
mkdir -p "$out"
for d in cmd/*/; do
  n="$(basename "$d")"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/fleetwire-$n" "./cmd/$n"
done
