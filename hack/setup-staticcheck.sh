#!/usr/bin/env bash
# setup-staticcheck.sh builds staticcheck for `make lint`, which `make
# test` runs (once per version; see go-tool.sh), and prints its path.
set -euo pipefail
exec "$(dirname "$0")/go-tool.sh" staticcheck honnef.co/go/tools/cmd/staticcheck "${STATICCHECK_VERSION:-0.8.2}"
