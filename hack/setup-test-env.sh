#!/usr/bin/env bash
# setup-test-env.sh makes this machine ready for `make test`. It is idempotent:
# every step checks first and does nothing when the tool is already there.
#
# Today it needs:
#   - redis-server (Debian package), for the Redis integration tests;
#   - node and npm (Debian packages), which run socket.io-client in the
#     Socket.IO tests; the tests install socket.io-client itself with
#     `npm ci` from test/sio/package-lock.json;
#   - chromium (Debian package), the headless browser test/console drives.
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
	apt_install redis-server
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

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "${apt_updated:-}" ]; then
		as_root apt-get update -qq
		apt_updated=1
	fi
	as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_node() {
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		return 0
	fi
	log "node or npm not found; installing them with apt-get"
	apt_install nodejs npm
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { log "node or npm still missing after apt-get"; return 1; }
	local version
	version="$(node --version)"
	log "installed node ${version}"
}

ensure_chromium() {
	if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
		return 0
	fi
	log "chromium not found; installing it with apt-get"
	apt_install chromium
	command -v chromium >/dev/null 2>&1 || { log "chromium still missing after apt-get"; return 1; }
	local version
	version="$(chromium --version 2>/dev/null || true)"
	log "installed ${version}"
}

ensure_redis
ensure_node
ensure_chromium
