package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwire/fleetwire/test/k8senv"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
)

// metricsJWTKey is the HS256 key of the runtimes standing in for pods.
var metricsJWTKey = []byte(strings.Repeat("m", 40))

// TestBuiltinCustomMetricsServeConnections registers the operator's custom
// metrics API with a real kube-apiserver, as the install manifests do, and
// reads a fleet's connections through the aggregator, as the HPA does:
// each pod's count, read from real runtime processes standing in for the
// pods; then a pod whose runtime stopped answering is left out, not
// reported as zero.
func TestBuiltinCustomMetricsServeConnections(t *testing.T) {
	c := startCluster(t, k8senv.FrontProxyFlags(t)...)
	port := redistest.FreePort(t)
	c.mustKubectlStdin(t, customMetricsService(port), "apply", "-f", "-")
	c.startOperator(t, customMetricsFlags(port)...)

	a, b := runtimeproc.Start(t, metricsJWTKey), runtimeproc.Start(t, metricsJWTKey)
	for i := range 3 {
		a.Connect(t, fmt.Sprintf("alice-%d", i))
	}
	b.Connect(t, "bob")
	c.applyAutoscalingChat(t, "{minReplicas: 2, maxReplicas: 4}")
	var dep appsv1.Deployment
	waitFor(t, "the chat Deployment", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &dep) == nil
	})
	c.podAt(t, &dep, "chat-a", a.Port)
	c.podAt(t, &dep, "chat-b", b.Port)
	dep.Status.Replicas, dep.Status.ReadyReplicas = 2, 2
	if err := c.client.Status().Update(context.Background(), &dep); err != nil {
		t.Fatal(err)
	}

	path := "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/realtime_active_connections"
	var got map[string]string
	waitFor(t, "both pods' counts through the aggregator", func() bool {
		got = c.customMetric(t, path)
		return got["chat-a"] == "3" && got["chat-b"] == "1"
	})
	t.Logf("kubectl get --raw %s: %v", path, got)
	// The aggregator verified the API's serving certificate to get there:
	// the APIService carries the authority that signed it.
	if out := c.mustKubectl(t, "get", "apiservice", "v1beta2.custom.metrics.k8s.io", "-o", "jsonpath={.spec.insecureSkipTLSVerify}|{.spec.caBundle}"); strings.HasPrefix(out, "true") || strings.HasSuffix(out, "|") {
		t.Errorf("the APIService does not verify the API's certificate: insecureSkipTLSVerify|caBundle = %q", out)
	}
	if one := c.customMetric(t, "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/chat-a/realtime_active_connections"); one["chat-a"] != "3" {
		t.Errorf("one pod's metric: %v", one)
	}

	if out := c.mustKubectl(t, "get", "rts", "chat", "-o", `jsonpath={.status.conditions[?(@.type=="MetricsAPIReady")].reason}`); out != "MetricsAPIServed" {
		t.Errorf("MetricsAPIReady reason = %q, want MetricsAPIServed", out)
	}

	_ = b.Cmd.Process.Kill()
	waitFor(t, "the silent pod left out", func() bool {
		got = c.customMetric(t, path)
		_, hasB := got["chat-b"]
		return got["chat-a"] == "3" && !hasB
	})
	t.Logf("after chat-b's runtime stopped: %v", got)
}

// TestMetricsAPIHeldElsewhereIsReported starts the operator where another
// service already holds the custom metrics APIService, as an installed
// prometheus-adapter would: the operator leaves it alone, and reports it
// on a RealtimeService that autoscales, with a condition and an Event.
// Switched to the prometheus provider, the fleet gets its HPA and the
// condition goes.
func TestMetricsAPIHeldElsewhereIsReported(t *testing.T) {
	c := startCluster(t)
	held := `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta2.custom.metrics.k8s.io}
spec:
  group: custom.metrics.k8s.io
  version: v1beta2
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {name: prometheus-adapter, namespace: monitoring, port: 443}
`
	c.mustKubectlStdin(t, held, "apply", "-f", "-")
	c.startOperator(t, customMetricsFlags(redistest.FreePort(t))...)
	c.applyAutoscalingChat(t, "{maxReplicas: 4}")
	var msg string
	waitFor(t, "the MetricsAPIReady condition", func() bool {
		out, _ := c.kubectl(t, "get", "rts", "chat", "-o", `jsonpath={.status.conditions[?(@.type=="MetricsAPIReady")].reason} {.status.conditions[?(@.type=="MetricsAPIReady")].message}`)
		reason, m, _ := strings.Cut(out, " ")
		msg = m
		return reason == "MetricsAPIHeldElsewhere"
	})
	t.Logf("MetricsAPIReady: %s", msg)
	if !strings.Contains(msg, "monitoring/prometheus-adapter") || !strings.Contains(msg, "spec.autoscaling.provider to prometheus") {
		t.Errorf("the condition does not name the holder and the way to switch to the prometheus provider: %s", msg)
	}
	waitFor(t, "the Warning Event", func() bool {
		out, _ := c.kubectl(t, "get", "events", "-n", "default", "--field-selector", "reason=MetricsAPIHeldElsewhere", "-o", "name")
		return strings.TrimSpace(out) != ""
	})
	if out := c.mustKubectl(t, "get", "apiservice", "v1beta2.custom.metrics.k8s.io", "-o", "jsonpath={.spec.service.namespace}/{.spec.service.name}"); out != "monitoring/prometheus-adapter" {
		t.Errorf("the operator took the APIService over: it points at %s", out)
	}

	// Switched to the prometheus provider, as the condition says: the HPA
	// reads the same Pods metric, now through the adapter, and the
	// condition is gone.
	c.applyAutoscalingChat(t, "{maxReplicas: 4, provider: prometheus}")
	waitFor(t, "MetricsAPIReady to go", func() bool {
		out, _ := c.kubectl(t, "get", "rts", "chat", "-o", `jsonpath={.status.conditions[?(@.type=="MetricsAPIReady")].reason}`)
		return out == ""
	})
	var hpa autoscalingv2.HorizontalPodAutoscaler
	waitFor(t, "the HPA", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &hpa) == nil
	})
	if m := hpa.Spec.Metrics; len(m) != 1 || m[0].Type != autoscalingv2.PodsMetricSourceType || m[0].Pods.Metric.Name != "realtime_active_connections" {
		t.Errorf("the prometheus provider's HPA metrics: %+v", m)
	}
	if out := c.mustKubectl(t, "get", "rts", "chat", "-o", `jsonpath={.status.conditions[?(@.type=="AutoscalerReady")].reason}`); out != "" {
		t.Errorf("AutoscalerReady, which only the keda provider sets, is %q with the prometheus provider", out)
	}
}

// applyAutoscalingChat applies the RealtimeService chat, autoscaling as
// the YAML flow map autoscaling says, and its JWT Secret.
func (c *cluster) applyAutoscalingChat(t *testing.T, autoscaling string) {
	t.Helper()
	c.mustKubectlStdin(t, autoscalingChat(autoscaling), "apply", "-f", "-")
}

// autoscalingChat is the manifest applyAutoscalingChat applies.
func autoscalingChat(autoscaling string) string {
	return `apiVersion: v1
kind: Secret
metadata: {name: chat-jwt, namespace: default}
stringData: {secret: ` + strings.Repeat("s", 40) + `}
---
apiVersion: realtime.fleetwire.io/v1alpha1
kind: RealtimeService
metadata: {name: chat, namespace: default}
spec:
  redis: {url: "redis://redis.default.svc:6379"}
  auth: {jwtSecretRef: {name: chat-jwt, key: secret}}
  autoscaling: ` + autoscaling + `
`
}

// customMetric reads a custom metrics API path with kubectl and returns
// each pod's value; a failed read returns nil.
func (c *cluster) customMetric(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := c.kubectl(t, "get", "--raw", path)
	if err != nil {
		return nil
	}
	var v struct {
		Kind  string `json:"kind"`
		Items []struct {
			DescribedObject struct{ Name string } `json:"describedObject"`
			Value           string                `json:"value"`
		} `json:"items"`
		DescribedObject struct{ Name string } `json:"describedObject"`
		Value           string                `json:"value"`
	}
	if json.Unmarshal([]byte(out), &v) != nil {
		return nil
	}
	got := map[string]string{}
	for _, it := range v.Items {
		got[it.DescribedObject.Name] = it.Value
	}
	if v.Kind == "MetricValue" {
		got[v.DescribedObject.Name] = v.Value
	}
	return got
}

// podAt creates a pod of dep's template whose http port is a runtime's on
// loopback, and marks it running with the runtime started, as a kubelet
// would.
func (c *cluster) podAt(t *testing.T, dep *appsv1.Deployment, name string, port int) {
	t.Helper()
	spec := *dep.Spec.Template.Spec.DeepCopy()
	spec.Containers[0].Ports[0].ContainerPort = int32(port)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels}, Spec: spec}
	if err := c.client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: spec.Containers[0].Name, Started: ptr.To(true), Ready: true}}}
	if err := c.client.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// customMetricsFlags turn the operator's custom metrics API on, on port
// on loopback, behind the Service customMetricsService makes.
func customMetricsFlags(port int) []string {
	return []string{fmt.Sprintf("--custom-metrics-port=%d", port),
		"--custom-metrics-service=default/fleetwire-custom-metrics", fmt.Sprintf("--custom-metrics-service-port=%d", port)}
}

// customMetricsService is the Service the operator's APIService points
// at. In a cluster it selects the operator's pod (config/default); here
// the operator runs on loopback, which the aggregator reaches through an
// ExternalName Service to localhost. That needs the kube-apiserver's
// --enable-aggregator-routing=false, as Endpoints refuse loopback
// addresses.
func customMetricsService(port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: fleetwire-custom-metrics, namespace: default}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: %d}]
`, port)
}
