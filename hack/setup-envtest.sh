#!/usr/bin/env bash
# setup-envtest.sh builds the kube-apiserver and etcd that envtest runs,
# from the Go module proxy (nothing else can be reached from here), into a
# cache outside the work tree keyed by version, and links kubectl beside
# them. It is idempotent: a populated cache is used as it is. It prints the
# directory to use as KUBEBUILDER_ASSETS.
#
# kube-apiserver is built from k8s.io/kubernetes (hack/lib-k8s.sh); etcd
# comes from go.etcd.io/etcd/server/v3.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/k8s/${K8S_VERSION}"

log() { printf 'setup-envtest: %s\n' "$*" >&2; }
# shellcheck source=hack/lib-k8s.sh
. "$(dirname "$0")/lib-k8s.sh"

build_etcd() {
	local work
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' RETURN
	log "building etcd v${ETCD_VERSION}"
	(
		cd "$work"
		go mod init fleetwire.local/envtest-etcd >/dev/null 2>&1
		GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >/dev/null 2>&1
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$CACHE/etcd" go.etcd.io/etcd/server/v3
	)
}

mkdir -p "$CACHE"
[ -x "$CACHE/kube-apiserver" ] || build_k8s_cmd kube-apiserver
[ -x "$CACHE/etcd" ] || build_etcd
if [ ! -e "$CACHE/kubectl" ]; then
	kubectl_path="$(command -v kubectl || true)"
	[ -n "$kubectl_path" ] || { log "kubectl not found on PATH"; exit 1; }
	ln -s "$kubectl_path" "$CACHE/kubectl"
fi
"$CACHE/kube-apiserver" --version >&2
# The first line only, taken without a pipe: under pipefail, "| head -n1"
# can end etcd with SIGPIPE and fail the script (exit 141).
etcd_version="$("$CACHE/etcd" --version 2>&1)"
printf '%s\n' "${etcd_version%%$'\n'*}" >&2
echo "$CACHE"
