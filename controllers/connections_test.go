package controllers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
)

// testJWTKey signs the tokens of the runtimes that stand in for pods.
var testJWTKey = []byte(strings.Repeat("k", 40))

// startRuntime runs a real runtime process on loopback.
func startRuntime(t *testing.T) *runtimeproc.Proc { return runtimeproc.Start(t, testJWTKey) }

// podFor creates a Pod that points at p: loopback IP and p's port as the
// container's http port, marked running with the container started, and
// ready or not.
func podFor(t *testing.T, ns, rtsName, podName string, p *runtimeproc.Proc, ready bool) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns, Labels: selectorLabels(&v1.RealtimeService{
			ObjectMeta: metav1.ObjectMeta{Name: rtsName}})},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: containerName, Image: "example/fleetwire:test",
			Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: int32(p.Port)}}}}},
	}
	create(t, pod)
	readiness := corev1.ConditionTrue
	if !ready {
		readiness = corev1.ConditionFalse
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: readiness}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: containerName, Started: ptr.To(true), Ready: ready}}}
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// TestActiveConnectionsFromRealRuntimes runs two runtime processes, points
// two pods at them, and checks that status sums what they report (ready
// or not), marks a silent pod stale, and follows disconnects.
func TestActiveConnectionsFromRealRuntimes(t *testing.T) {
	ns := newNamespace(t)
	a, b := startRuntime(t), startRuntime(t)
	var aConns []*websocket.Conn
	for i := range 2 {
		aConns = append(aConns, a.Connect(t, fmt.Sprintf("alice-%d", i)))
	}
	for i := range 3 {
		b.Connect(t, fmt.Sprintf("bob-%d", i))
	}

	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) { withRedis(s); s.Replicas = 2 }))
	deploymentOf(t, ns, "chat")
	podFor(t, ns, "chat", "chat-a", a, true)
	// b reports not ready, as a pod at its connection cap does; its
	// connections still count.
	podFor(t, ns, "chat", "chat-b", b, false)
	finishRollout(t, ns, "chat")

	statusIs := func(what string, active int64, stale int32) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			r := rtsOf(t, ns, "chat")
			return r.Status.ActiveConnections == active && r.Status.StaleConnectionPods == stale,
				fmt.Sprintf("active %d stale %d", r.Status.ActiveConnections, r.Status.StaleConnectionPods)
		})
	}
	statusIs("5 connections over two pods", 5, 0)

	// b stops answering: its last count stands, and the pod is marked stale.
	_ = b.Cmd.Process.Kill()
	statusIs("b's last count kept and marked stale", 5, 1)
	r := rtsOf(t, ns, "chat")
	if c := meta.FindStatusCondition(r.Status.Conditions, ConditionDegraded); c == nil || c.Reason != ReasonConnectionsStale {
		t.Errorf("Degraded = %+v, want ConnectionCountsStale", c)
	}

	aConns[0].Close()
	statusIs("a's disconnect to count", 4, 1)
}

// metricsServer serves a Prometheus text page with the given gauge value,
// or a 500 while fail is set.
func metricsServer(t *testing.T, value *int64, fail *bool, mu *sync.Mutex) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if *fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "# HELP realtime_active_connections x\n# TYPE realtime_active_connections gauge\nrealtime_active_connections %d\n", *value)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestScraperForgetsCountsOlderThanMaxAge(t *testing.T) {
	var mu sync.Mutex
	value, fail := int64(7), false
	srv := metricsServer(t, &value, &fail, &mu)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u1"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: int32(port)}}}}},
		Status: corev1.PodStatus{PodIP: "127.0.0.1"}}
	s := &MetricsScraper{MaxAge: 200 * time.Millisecond}
	ctx := context.Background()
	if got := s.Count(ctx, []corev1.Pod{pod}); !countIs(got, 7, 0) || got.perPod["u1"] != 7 {
		t.Fatalf("count = %+v, want 7, from p", got)
	}
	// Another fleet's count in between must not make the scraper forget p.
	other := pod
	other.UID, other.Name = "u2", "q"
	if got := s.Count(ctx, []corev1.Pod{other}); !countIs(got, 7, 0) {
		t.Fatalf("other fleet's count = %+v, want 7", got)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if got := s.Count(ctx, []corev1.Pod{pod}); !countIs(got, 7, 1) {
		t.Fatalf("count after a failed read = %+v, want the last 7, stale", got)
	}
	time.Sleep(250 * time.Millisecond)
	if got := s.Count(ctx, []corev1.Pod{pod}); !countIs(got, 0, 1) {
		t.Fatalf("count after MaxAge = %+v, want 0, stale", got)
	}
	if got := s.Count(ctx, nil); !countIs(got, 0, 0) {
		t.Fatalf("count of no pods = %+v", got)
	}
}

// A pod that answers too slowly is stale once the whole count's deadline
// passes; the count does not wait for it.
func TestScraperDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	var pods []corev1.Pod
	for i := range 3 {
		pods = append(pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p", i), UID: types.UID(fmt.Sprint("u", i))},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: int32(port)}}}}},
			Status: corev1.PodStatus{PodIP: "127.0.0.1"}})
	}
	s := &MetricsScraper{Timeout: time.Minute, Deadline: 200 * time.Millisecond, Concurrency: 1}
	start := time.Now()
	if got := s.Count(context.Background(), pods); !countIs(got, 0, 3) {
		t.Fatalf("count = %+v, want all 3 pods stale", got)
	}
	// Without the deadline the count would take 3 × the 1m per-pod
	// timeout; the bound is far from both, so load cannot flip it.
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("count took %s: the 200ms deadline did not stop it", took)
	}
}

// countIs compares a count's sum and its stale pods.
func countIs(got connectionCount, active int64, stale int32) bool {
	return got.active == active && got.stalePods == stale
}
