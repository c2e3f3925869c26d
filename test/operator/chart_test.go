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

// Values that break values.schema.json are refused, each with a message
// that names the value and what is wrong with it.
func TestChartRefusesBadValues(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct{ set, want string }{
		{"replicaCount=0", "at '/replicaCount': minimum: got 0, want 1"},
		{"logLevel=verbose", "at '/logLevel': value must be one of 'debug', 'info', 'error'"},
		{"metrics.port=70000", "at '/metrics/port': maximum: got 70,000, want 65,535"},
		{"connectionInterval=soon", "at '/connectionInterval': 'soon' does not match pattern"},
		{"imagee.tag=v1", "additional properties 'imagee' not allowed"},
		{"namespaces={Bad_NS}", "at '/namespaces/0': 'Bad_NS' does not match pattern"},
		{"image.pullPolicy=Sometimes", "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{"prometheusRule.connectionCapRatio=2", "at '/prometheusRule/connectionCapRatio': maximum: got 2, want 1"},
	} {
		out, err := exec.Command(helm, "template", "fw", chartDir, "--kube-version", "1.37.2", "--set", tc.set).CombinedOutput()
		if err == nil {
			t.Errorf("--set %s was accepted", tc.set)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("--set %s: %s\nwant a message with %q", tc.set, out, tc.want)
		}
	}
	// A ServiceMonitor needs the metrics Service.
	out, err := exec.Command(helm, "template", "fw", chartDir, "--kube-version", "1.37.2",
		"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.port=0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "metrics.serviceMonitor.enabled needs metrics.port above 0") {
		t.Errorf("a ServiceMonitor without metrics: %v\n%s", err, out)
	}
}

// The production values file (ci/production-values.yaml: two replicas,
// watched namespaces, a ServiceMonitor, the alerts and the dashboard)
// lints, renders, and applies to a real API server that has the
// Prometheus Operator's own CRDs.
func TestChartProductionValuesApply(t *testing.T) {
	helm := helmBinary(t)
	values := chartDir + "/ci/production-values.yaml"
	if out, err := exec.Command(helm, "lint", chartDir, "-f", values).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	rendered, err := exec.Command(helm, "template", "fleetwire-operator", chartDir, "--namespace", "fleetwire-system",
		"--kube-version", "1.37.2", "--include-crds", "-f", values).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	file := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(file, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t)
	crds := os.Getenv("FLEETWIRE_PROMETHEUS_OPERATOR_CRDS")
	if crds == "" {
		out, err := exec.Command("../../hack/setup-prometheus-operator.sh").Output()
		if err != nil {
			t.Fatalf("hack/setup-prometheus-operator.sh: %v", err)
		}
		crds = strings.TrimSpace(string(out))
	}
	c.mustKubectl(t, "apply", "--server-side", "-f", crds)
	c.mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	for _, ns := range []string{"fleetwire-system", "apps", "chat"} {
		c.mustKubectl(t, "create", "namespace", ns)
	}
	out := c.mustKubectl(t, "apply", "--server-side", "-f", file)
	for _, want := range []string{
		"deployment.apps/fleetwire-operator", "service/fleetwire-operator-metrics",
		"servicemonitor.monitoring.coreos.com/fleetwire-operator", "prometheusrule.monitoring.coreos.com/fleetwire-operator",
		"configmap/fleetwire-operator-dashboard",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// The API server kept the alerts under the Prometheus Operator's
	// schema, and the dashboard ConfigMap carries the sidecar's label.
	rules := c.mustKubectl(t, "get", "prometheusrule", "-n", "fleetwire-system", "fleetwire-operator", "-o", "jsonpath={.spec.groups[*].rules[*].alert}")
	if n := len(strings.Fields(rules)); n != 8 {
		t.Errorf("the PrometheusRule holds %d alerts (%s), want 8", n, rules)
	}
	if v := c.mustKubectl(t, "get", "configmap", "-n", "fleetwire-system", "fleetwire-operator-dashboard", "-o", "jsonpath={.metadata.labels.grafana_dashboard}"); v != "1" {
		t.Errorf("the dashboard ConfigMap's grafana_dashboard label = %q, want 1", v)
	}
}
