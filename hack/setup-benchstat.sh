#!/usr/bin/env bash
# setup-benchstat.sh builds benchstat (golang.org/x/perf), which compares
# benchmark runs for docs/benchmarks.md, once per version (go-tool.sh),
# and prints its path. make test does not need it.
set -euo pipefail
exec "$(dirname "$0")/go-tool.sh" benchstat golang.org/x/perf/cmd/benchstat "${BENCHSTAT_VERSION:-0.0.0-20260908200009-22c9c6c9d4da}"
