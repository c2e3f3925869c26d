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
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir, err := cacheDir("k8s", Version)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("no kube-apiserver in %s: run hack/setup-envtest.sh (make test does)", dir)
	}
	return dir, nil
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
	if dir := os.Getenv("FLEETWIRE_CLUSTER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir, err := cacheDir("kwok", KwokVersion)
	if err != nil {
		return "", err
	}
	for _, f := range []string{"kube-controller-manager", "kwok", "stages.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("no %s in %s: run hack/setup-cluster.sh (make test does)", f, dir)
		}
	}
	return dir, nil
}

// KwokVersion is the kwok hack/setup-cluster.sh builds by default.
const KwokVersion = "0.8.0"

// KEDACRDs returns the directory hack/setup-keda.sh fills with KEDA's
// CRDs: $FLEETWIRE_KEDA_CRDS when set (make test sets it), else the cache
// folder.
func KEDACRDs() (string, error) {
	if dir := os.Getenv("FLEETWIRE_KEDA_CRDS"); dir != "" {
		return dir, nil
	}
	dir, err := cacheDir("keda", KEDAVersion)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "keda.sh_scaledobjects.yaml")); err != nil {
		return "", fmt.Errorf("no KEDA CRDs in %s: run hack/setup-keda.sh (make test does)", dir)
	}
	return dir, nil
}

// KEDAVersion is the KEDA whose CRDs hack/setup-keda.sh copies by default.
const KEDAVersion = "2.18.1"

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
