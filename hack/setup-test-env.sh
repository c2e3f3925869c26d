#!/usr/bin/env bash
# setup-test-env.sh makes this machine ready for `make test`. It is idempotent:
# every step checks first and does nothing when the tool is already there.
#
# Today it needs:
#   - redis-server (Debian package), for the Redis integration tests;
#   - node and npm, for the Socket.IO client compatibility tests (checked only).
set -euo pipefail

log() { printf 'setup-test-env: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		log "need root to run: $*"
		return 1
	fi
}

ensure_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	log "redis-server not found; installing it with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends redis-server >/dev/null
	# The Debian package starts a system service on :6379. Tests start their
	# own servers on free ports, so the system one is stopped where possible.
	if command -v service >/dev/null 2>&1; then
		as_root service redis-server stop >/dev/null 2>&1 || true
	fi
	command -v redis-server >/dev/null 2>&1 || { log "redis-server still missing after apt-get"; return 1; }
	local version
	version="$(redis-server --version)"
	log "installed ${version%%$'\n'*}"
}

ensure_redis
