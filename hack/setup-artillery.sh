#!/usr/bin/env bash
# setup-artillery.sh installs Artillery and its Socket.IO v3/v4 engine, as
# pinned by test/load/package-lock.json, into a cache folder keyed by that
# lockfile (npm ci --ignore-scripts: no install scripts run, and nothing
# is downloaded but the npm packages), and prints the folder. It needs
# node and npm (hack/setup-test-env.sh installs them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
key="$(sha256sum "$root/test/load/package-lock.json" | cut -c1-16)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/artillery/$key"
if [ ! -x "$dir/node_modules/.bin/artillery" ]; then
	printf 'setup-artillery: installing Artillery into %s\n' "$dir" >&2
	mkdir -p "$dir"
	cp "$root/test/load/package.json" "$root/test/load/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >&2)
fi
printf '%s\n' "$dir"
