package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwire/fleetwire/test/k8senv"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
)

// TestKEDAProvider runs the keda autoscaling provider against a real
// kube-apiserver: first without KEDA, where the RealtimeService says so;
// then with KEDA's own CRDs, where the operator applies a ScaledObject
// that the API server accepts under KEDA's schema, in place of an HPA,
// and serves the fleet's total its trigger reads, from real runtime
// processes standing in for the pods; then back to builtin.
func TestKEDAProvider(t *testing.T) {
	crds, err := k8senv.KEDACRDs()
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t)
	totals := redistest.FreePort(t)
	c.startOperator(t, fmt.Sprintf("--fleet-totals-port=%d", totals), "--custom-metrics-service=default/fleetwire-custom-metrics")
	c.applyAutoscalingChat(t, "{maxReplicas: 4, targetConnectionsPerPod: 2, provider: keda}")

	condition := func() (string, string) {
		out, _ := c.kubectl(t, "get", "rts", "chat", "-o", `jsonpath={.status.conditions[?(@.type=="AutoscalerReady")].reason} {.status.conditions[?(@.type=="AutoscalerReady")].message}`)
		reason, msg, _ := strings.Cut(out, " ")
		return reason, msg
	}
	var msg string
	waitFor(t, "AutoscalerReady KEDANotInstalled", func() bool {
		var reason string
		reason, msg = condition()
		return reason == "KEDANotInstalled"
	})
	t.Logf("without KEDA: %s", msg)
	if c.hasHPA(t) {
		t.Error("the keda provider created an HPA")
	}

	c.mustKubectl(t, "apply", "--server-side", "-f", filepath.Join(crds, "keda.sh_scaledobjects.yaml"))
	c.mustKubectl(t, "wait", "--for=condition=Established", "crd/scaledobjects.keda.sh")
	// The operator looks again within a minute (and a running fleet every
	// connection interval); a new label wakes it at once.
	c.mustKubectl(t, "label", "rts", "chat", "example.com/keda=installed")
	so := &unstructured.Unstructured{}
	so.SetAPIVersion("keda.sh/v1alpha1")
	so.SetKind("ScaledObject")
	waitFor(t, "the ScaledObject", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, so) == nil
	})
	spec, _ := json.MarshalIndent(so.Object["spec"], "", "  ")
	t.Logf("ScaledObject chat, as KEDA's CRD kept it:\n%s", spec)
	wantURL := fmt.Sprintf("http://fleetwire-custom-metrics.default.svc:%d/fleets/default/chat", totals)
	for path, want := range map[string]any{
		"scaleTargetRef.name": "chat", "minReplicaCount": int64(1), "maxReplicaCount": int64(4),
		"triggers.0.type": "metrics-api", "triggers.0.metricType": "AverageValue",
		"triggers.0.metadata.url": wantURL, "triggers.0.metadata.valueLocation": "activeConnections",
		"triggers.0.metadata.targetValue": "2",
		"advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds": int64(300),
	} {
		if got := field(so.Object["spec"], strings.Split(path, ".")...); got != want {
			t.Errorf("spec.%s = %v (%T), want %v", path, got, got, want)
		}
	}
	waitFor(t, "AutoscalerReady ScaledObjectApplied", func() bool {
		reason, _ := condition()
		return reason == "ScaledObjectApplied"
	})

	// The trigger's URL, on loopback: the fleet's total connections.
	a, b := runtimeproc.Start(t, metricsJWTKey), runtimeproc.Start(t, metricsJWTKey)
	for i := range 3 {
		a.Connect(t, fmt.Sprintf("alice-%d", i))
	}
	b.Connect(t, "bob")
	var dep appsv1.Deployment
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &dep); err != nil {
		t.Fatal(err)
	}
	c.podAt(t, &dep, "chat-a", a.Port)
	c.podAt(t, &dep, "chat-b", b.Port)
	dep.Status.Replicas, dep.Status.ReadyReplicas = 2, 2
	if err := c.client.Status().Update(context.Background(), &dep); err != nil {
		t.Fatal(err)
	}
	local := strings.Replace(wantURL, "fleetwire-custom-metrics.default.svc", "127.0.0.1", 1)
	var body string
	waitFor(t, "the fleet's total", func() bool {
		code, b := get(t, local)
		body = b
		return code == http.StatusOK && strings.Contains(b, `"activeConnections":4`)
	})
	t.Logf("GET %s: %s", local, body)
	if !strings.Contains(body, `"pods":2,"podsCounted":2`) {
		t.Errorf("the total does not count both pods: %s", body)
	}
	code, body := get(t, strings.Replace(local, "/chat", "/nosuch", 1))
	t.Logf("an unknown fleet: %d %s", code, body)
	if code != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
		t.Errorf("an unknown fleet: %d %s, want 404 not_found", code, body)
	}

	c.mustKubectl(t, "patch", "rts", "chat", "--type=merge", "-p", `{"spec":{"autoscaling":{"provider":"builtin"}}}`)
	waitFor(t, "the HPA back and the ScaledObject gone", func() bool {
		err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, so)
		reason, _ := condition()
		return apierrors.IsNotFound(err) && c.hasHPA(t) && reason == ""
	})
}

func (c *cluster) hasHPA(t *testing.T) bool {
	t.Helper()
	err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &autoscalingv2.HorizontalPodAutoscaler{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// field walks maps by key and slices by index.
func field(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
