// Package k8senv finds the kube-apiserver, etcd and kubectl that
// hack/setup-envtest.sh builds into a versioned cache outside the work
// tree, for envtest-based tests.
package k8senv

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Version is the Kubernetes version hack/setup-envtest.sh builds by default.
const Version = "1.37.2"

// Assets returns the directory for envtest's BinaryAssetsDirectory:
// $KUBEBUILDER_ASSETS when set (make test sets it), else the cache folder.
func Assets() (string, error) {
	return cached("KUBEBUILDER_ASSETS", "k8s", Version, "hack/setup-envtest.sh", "kube-apiserver")
}

// Environment is an envtest control plane from the cached binaries, with
// the CRDs in crdDir installed when it starts.
func Environment(crdDir string) (*envtest.Environment, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// ClusterAssets returns the directory hack/setup-cluster.sh fills, with
// kube-controller-manager, kwok and kwok's stages.yaml:
// $FLEETWIRE_CLUSTER_ASSETS when set (make test sets it), else the cache
// folder.
func ClusterAssets() (string, error) {
	return cached("FLEETWIRE_CLUSTER_ASSETS", "kwok", KwokVersion, "hack/setup-cluster.sh", "kube-controller-manager", "kwok", "stages.yaml")
}

// KwokVersion is the kwok hack/setup-cluster.sh builds by default.
const KwokVersion = "0.8.0"

// KEDACRDs returns the directory hack/setup-keda.sh fills with KEDA's
// CRDs: $FLEETWIRE_KEDA_CRDS when set (make test sets it), else the cache
// folder.
func KEDACRDs() (string, error) {
	return cached("FLEETWIRE_KEDA_CRDS", "keda", KEDAVersion, "hack/setup-keda.sh", "keda.sh_scaledobjects.yaml")
}

// KEDAVersion is the KEDA whose CRDs hack/setup-keda.sh copies by default.
const KEDAVersion = "2.18.1"

// cached returns $envVar when set (make test sets it), else the hack
// script's cache folder for tool at version, once it holds files.
func cached(envVar, tool, version, script string, files ...string) (string, error) {
	if dir := os.Getenv(envVar); dir != "" {
		return dir, nil
	}
	dir, err := cacheDir(tool, version)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("no %s in %s: run %s (make test does)", f, dir, script)
		}
	}
	return dir, nil
}

// cacheDir is the hack scripts' cache folder for a tool at a version.
func cacheDir(tool, version string) (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "fleetwire", tool, version), nil
}
