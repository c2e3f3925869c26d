package operator

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const chartDir = "../../charts/fleetwire-operator"

// helmBinary is $HELM (make test sets it), else the one
// hack/setup-helm.sh builds and caches.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	out, err := exec.Command("../../hack/setup-helm.sh").Output()
	if err != nil {
		t.Fatalf("hack/setup-helm.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// The chart carries copies of generated files, since a chart cannot read
// outside its folder; make manifests refreshes them.
func TestChartCopiesMatchGeneratedManifests(t *testing.T) {
	pairs := [][2]string{
		{"../../config/crd/bases/realtime.fleetwire.io_realtimeservices.yaml", chartDir + "/crds/realtime.fleetwire.io_realtimeservices.yaml"},
		{"../../config/rbac/role.yaml", chartDir + "/files/role.yaml"},
	}
	for _, p := range pairs {
		a, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run make manifests", filepath.Base(p[1]), p[0])
		}
	}
}

// TestChartInstallsOnARealAPIServer lints and renders the chart with
// helm, applies the result to a real API server, and checks that the
// operator's service account may do what the reconciler does.
func TestChartInstallsOnARealAPIServer(t *testing.T) {
	helm := helmBinary(t)
	if out, err := exec.Command(helm, "lint", chartDir).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	rendered, err := exec.Command(helm, "template", "fw", chartDir, "--namespace", "fleetwire-system",
		"--kube-version", "1.37.2", "--include-crds", "--set", "namespaces={apps,chat}").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	for _, want := range []string{"--namespaces=apps,chat", "--runtime-image=ghcr.io/fleetwire/fleetwire:latest",
		"readOnlyRootFilesystem: true", "kind: CustomResourceDefinition",
		"--custom-metrics-service=fleetwire-system/fw-fleetwire-operator-custom-metrics"} {
		if !bytes.Contains(rendered, []byte(want)) {
			t.Errorf("rendered chart lacks %q", want)
		}
	}
	file := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(file, rendered, 0o600); err != nil {
		t.Fatal(err)
	}

	c := startCluster(t)
	c.mustKubectl(t, "create", "namespace", "fleetwire-system")
	out := c.mustKubectl(t, "apply", "--server-side", "--force-conflicts", "-f", file)
	for _, want := range []string{"deployment.apps/fw-fleetwire-operator", "clusterrole.rbac.authorization.k8s.io/fw-fleetwire-operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	as := "--as=system:serviceaccount:fleetwire-system:fw-fleetwire-operator"
	for _, check := range []struct{ verb, resource, want string }{
		{"patch", "deployments.apps", "yes"},
		{"update", "realtimeservices.realtime.fleetwire.io/status", "yes"},
		{"create", "leases.coordination.k8s.io", "yes"},
		{"delete", "secrets", "no"},
	} {
		ns := "apps"
		if check.resource == "leases.coordination.k8s.io" {
			ns = "fleetwire-system"
		}
		out, _ := c.kubectl(t, "auth", "can-i", check.verb, check.resource, as, "-n", ns)
		if strings.TrimSpace(out) != check.want {
			t.Errorf("can-i %s %s = %q, want %s", check.verb, check.resource, strings.TrimSpace(out), check.want)
		}
	}
	checkCustomMetricsRBAC(t, c, strings.TrimPrefix(as, "--as="))
}
