# lib-k8s.sh: building Kubernetes components from the Go module proxy.
# Sourced by setup-envtest.sh and setup-cluster.sh; it expects K8S_VERSION,
# CACHE and a log function.

# build_k8s_cmd builds k8s.io/kubernetes/cmd/$1 at K8S_VERSION into
# $CACHE/$1, with the version stamped in.
#
# Recipe: a throwaway module requires k8s.io/kubernetes at the version,
# replaces each staging module (k8s.io/api, k8s.io/apiserver, ...) with the
# same path at v0.<minor>.<patch>, and builds the command.
build_k8s_cmd() {
	local name="$1" work
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' RETURN
	local staging="v0.${K8S_VERSION#1.}"
	log "building ${name} v${K8S_VERSION} (several minutes, once per version)"
	(
		cd "$work"
		go mod init "fleetwire.local/${name}" >/dev/null 2>&1
		go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
		# Every module that k8s.io/kubernetes replaces with ./staging/...
		go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" >/dev/null
		local gomod
		gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v${K8S_VERSION}.mod"
		grep -E '^\s+k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r mod; do
			go mod edit -replace="${mod}=${mod}@${staging}"
		done
		GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/${name}@v${K8S_VERSION}" >/dev/null 2>&1
		local major="${K8S_VERSION%%.*}" minor
		minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o "$CACHE/${name}.tmp" \
			-ldflags "-X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}" \
			"k8s.io/kubernetes/cmd/${name}"
		mv "$CACHE/${name}.tmp" "$CACHE/${name}"
	)
}
