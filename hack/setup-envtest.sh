#!/usr/bin/env bash
# setup-envtest.sh builds the kube-apiserver and etcd that envtest runs,
# from the Go module proxy (nothing else can be reached from here), into a
# cache outside the work tree keyed by version, and links kubectl beside
# them. It is idempotent: a populated cache is used as it is. It prints the
# directory to use as KUBEBUILDER_ASSETS.
#
# Recipe: a throwaway module requires k8s.io/kubernetes at the version,
# replaces each staging module (k8s.io/api, k8s.io/apiserver, ...) with the
# same path at v0.<minor>.<patch>, and builds cmd/kube-apiserver with the
# version stamped in. etcd comes from go.etcd.io/etcd/server/v3.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/fleetwire/k8s/${K8S_VERSION}"

log() { printf 'setup-envtest: %s\n' "$*" >&2; }

build_apiserver() {
	local work
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' RETURN
	local staging="v0.${K8S_VERSION#1.}"
	log "building kube-apiserver v${K8S_VERSION} (several minutes, once per version)"
	(
		cd "$work"
		go mod init fleetwire.local/envtest-apiserver >/dev/null 2>&1
		go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
		# Every module that k8s.io/kubernetes replaces with ./staging/...
		go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" >/dev/null
		local gomod
		gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v${K8S_VERSION}.mod"
		grep -E '^\s+k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r mod; do
			go mod edit -replace="${mod}=${mod}@${staging}"
		done
		GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@v${K8S_VERSION}" >/dev/null 2>&1
		local major="${K8S_VERSION%%.*}" minor
		minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$CACHE/kube-apiserver" \
			-ldflags "-X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}" \
			k8s.io/kubernetes/cmd/kube-apiserver
	)
}

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
[ -x "$CACHE/kube-apiserver" ] || build_apiserver
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
