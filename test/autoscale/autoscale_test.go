package autoscale

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// TestHPAScalesOnConnectionsAndRemovesEmptyPods runs a RealtimeService
// that autoscales on 10 connections per pod, with the operator's builtin
// metrics API and nothing else installed:
//
//  1. 25 connections on the first pod: the HPA scales the fleet to 3.
//  2. 5 connections on the newest pod, then the first pod's 25 close: the
//     HPA scales down to 1, and the ReplicaSet removes the two empty
//     pods, not the busy one, whose clients stay connected.
//
// Printed: the timeline of connections per pod, the metric the HPA read,
// its desired replicas, the Deployment's replicas and the deletion costs.
// Assertions are on counts and on which pods were removed, never on how
// fast.
func TestHPAScalesOnConnectionsAndRemovesEmptyPods(t *testing.T) {
	c := startLocalCluster(t)
	c.startOperator(t)
	c.createChat(t, `{"minReplicas":1,"maxReplicas":3,"targetConnectionsPerPod":10,
		"scaleDownStabilizationSeconds":3,"scaleDownPodsPerMinute":10}`)
	tl := c.recordTimeline(t)

	first := c.waitForPods(t, 1)[0]
	var firstConns []*websocket.Conn
	for i := range 25 {
		firstConns = append(firstConns, c.runtimeOf(first).Connect(t, fmt.Sprintf("early-%d", i)))
	}
	tl.note("25 connections on " + first)
	pods := c.waitForPods(t, 3)
	tl.note("scaled up to 3")
	c.waitForStatus(t, 3)
	newest := pods[len(pods)-1]
	if newest == first {
		t.Fatalf("the first pod %s is the newest of %v", first, pods)
	}
	var kept []*websocket.Conn
	for i := range 5 {
		kept = append(kept, c.runtimeOf(newest).Connect(t, fmt.Sprintf("late-%d", i)))
	}
	tl.note("5 connections on " + newest)
	waitFor(t, "the newest pod's deletion cost", 2*time.Minute, func() bool { return c.deletionCost(newest) == "5" })
	for _, ws := range firstConns {
		_ = ws.Close()
	}
	tl.note("the 25 on " + first + " closed")
	left := c.waitForPods(t, 1)
	tl.note("scaled down to 1")
	c.waitForStatus(t, 1)
	tl.stop()
	tl.save(t)

	if left[0] != newest {
		t.Fatalf("the pod left is %s, want the busy %s", left[0], newest)
	}
	var removed []string // the three pods, but the one left
	for _, p := range pods {
		if p != left[0] {
			removed = append(removed, p)
		}
	}
	sort.Strings(removed)
	t.Logf("removed: %v, kept: %s", removed, newest)
	if len(removed) != 2 || contains(removed, newest) {
		t.Fatalf("removed %v, want the two pods other than %s", removed, newest)
	}
	// The busy pod's clients were never cut.
	for i, ws := range kept {
		if err := ws.WriteJSON(map[string]any{"event": "ping", "id": 1}); err != nil {
			t.Fatalf("client %d of the kept pod: %v", i, err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatalf("client %d of the kept pod: %v", i, err)
		}
	}
}

// createChat creates the RealtimeService chat, autoscaling as the JSON
// object autoscaling says, and its JWT Secret.
func (c *localCluster) createChat(t *testing.T, autoscaling string) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-jwt", Namespace: "default"},
		StringData: map[string]string{"secret": string(jwtKey)}}
	if err := c.client.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	rts := `{"apiVersion":"realtime.fleetwire.io/v1alpha1","kind":"RealtimeService",
		"metadata":{"name":"chat","namespace":"default"},
		"spec":{"redis":{"url":"redis://redis.default.svc:6379"},
		"auth":{"jwtSecretRef":{"name":"chat-jwt","key":"secret"}},
		"autoscaling":` + autoscaling + `}}`
	if err := c.client.Create(context.Background(), fromJSON(t, rts)); err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func fromJSON(t *testing.T, s string) client.Object {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(s), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// activeConnections reads a runtime's realtime_active_connections.
func activeConnections(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "realtime_active_connections "); ok {
			return v
		}
	}
	return "?"
}

// waitForPods waits until the fleet has exactly n running pods, each with
// its runtime up and counted, and returns their names, oldest first.
func (c *localCluster) waitForPods(t *testing.T, n int) []string {
	t.Helper()
	var names []string
	waitFor(t, fmt.Sprintf("%d running pods with their runtimes", n), 3*time.Minute, func() bool {
		pods := &corev1.PodList{}
		if err := c.client.List(context.Background(), pods, client.InNamespace("default"),
			client.MatchingLabels{"app.kubernetes.io/instance": "chat"}); err != nil {
			return false
		}
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		if len(live) != n {
			return false
		}
		sort.Slice(live, func(i, j int) bool {
			return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp) ||
				(live[i].CreationTimestamp.Equal(&live[j].CreationTimestamp) && live[i].Name < live[j].Name)
		})
		names = names[:0]
		for _, p := range live {
			if c.runtimeOf(p.Name) == nil {
				return false
			}
			names = append(names, p.Name)
		}
		return true
	})
	return names
}

// waitForStatus waits until the RealtimeService's status shows the fleet
// at n pods, desired and ready, as kubectl get rts prints them.
func (c *localCluster) waitForStatus(t *testing.T, n int32) {
	t.Helper()
	var got string
	waitFor(t, fmt.Sprintf("status to show %d desired and ready", n), time.Minute, func() bool {
		rts := &v1.RealtimeService{}
		if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, rts); err != nil {
			return false
		}
		got = fmt.Sprintf("desired %d ready %d", rts.Status.DesiredReplicas, rts.Status.ReadyReplicas)
		return rts.Status.DesiredReplicas == n && rts.Status.ReadyReplicas == n
	})
	t.Logf("RealtimeService status: %s", got)
	// As a person sees it: kubectl get rts, whose DESIRED and READY
	// columns follow the HPA too.
	out, err := exec.Command("kubectl", "--kubeconfig", c.kubeconfig, "get", "rts", "chat", "-n", "default").CombinedOutput()
	t.Logf("kubectl get rts chat:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var row []string
	if len(lines) == 2 {
		row = strings.Fields(lines[1])
	}
	if err != nil || len(row) < 3 || !strings.HasPrefix(lines[0], "NAME   DESIRED   READY") ||
		!slices.Equal(row[:3], []string{"chat", fmt.Sprint(n), fmt.Sprint(n)}) {
		t.Errorf("kubectl get rts chat (%v): want %d desired and %d ready", err, n, n)
	}
}

func (c *localCluster) deletionCost(pod string) string {
	p := &corev1.Pod{}
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: pod}, p); err != nil {
		return ""
	}
	return p.Annotations["controller.kubernetes.io/pod-deletion-cost"]
}

// timeline samples the fleet every second.
type timeline struct {
	mu    sync.Mutex
	lines []string
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

func (tl *timeline) note(what string) {
	tl.mu.Lock()
	tl.lines = append(tl.lines, fmt.Sprintf("%6.1fs  ** %s", time.Since(tl.start).Seconds(), what))
	tl.mu.Unlock()
}

func (tl *timeline) stop() { close(tl.done); tl.wg.Wait() }

// save logs the timeline and writes it to
// <artifacts>/autoscale/<test>.txt (testproc.Artifacts), where it can be
// read after a passing run too.
func (tl *timeline) save(t *testing.T) {
	t.Helper()
	const header = "timeline (time, pod:connections/deletion cost[>rebalance target], metric values, HPA desired, Deployment replicas):\n"
	t.Logf("%s%s", header, tl)
	file := filepath.Join(testproc.Artifacts(t, "autoscale"), t.Name()+".txt")
	if err := os.WriteFile(file, []byte(header+tl.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("timeline written to %s", file)
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.lines, "\n")
}

func (c *localCluster) recordTimeline(t *testing.T) *timeline {
	tl := &timeline{start: time.Now(), done: make(chan struct{})}
	dc := discovery.NewDiscoveryClientForConfigOrDie(c.env.Config)
	tl.wg.Add(1)
	go func() {
		defer tl.wg.Done()
		last := ""
		for {
			line := c.sample(dc)
			if line != last { // only changes
				tl.mu.Lock()
				tl.lines = append(tl.lines, fmt.Sprintf("%6.1fs  %s", time.Since(tl.start).Seconds(), line))
				tl.mu.Unlock()
				last = line
			}
			select {
			case <-tl.done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-tl.done:
		default:
			tl.stop()
		}
	})
	return tl
}

// sample is one line of the timeline.
func (c *localCluster) sample(dc *discovery.DiscoveryClient) string {
	ctx := context.Background()
	pods := &corev1.PodList{}
	_ = c.client.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels{"app.kubernetes.io/instance": "chat"})
	var parts []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		conns := "?"
		if proc := c.runtimeOf(p.Name); proc != nil {
			conns = activeConnections(proc.Addr)
		}
		cost := p.Annotations["controller.kubernetes.io/pod-deletion-cost"]
		part := fmt.Sprintf("%s:%s/%s", shortName(p.Name), conns, orDash(cost))
		var order struct{ Target *int64 }
		if json.Unmarshal([]byte(p.Annotations["realtime.fleetwire.io/rebalance"]), &order) == nil && order.Target != nil {
			part += fmt.Sprintf(">%d", *order.Target)
		}
		parts = append(parts, part)
	}
	sort.Strings(parts)
	metric := "-"
	raw, err := dc.RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/realtime_active_connections").
		Param("labelSelector", "app.kubernetes.io/instance=chat").DoRaw(ctx)
	if err == nil {
		var v struct {
			Items []struct {
				DescribedObject struct{ Name string } `json:"describedObject"`
				Value           string                `json:"value"`
			} `json:"items"`
		}
		if json.Unmarshal(raw, &v) == nil {
			var ms []string
			for _, it := range v.Items {
				ms = append(ms, shortName(it.DescribedObject.Name)+"="+it.Value)
			}
			sort.Strings(ms)
			metric = strings.Join(ms, ",")
		}
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	desired := "-"
	if c.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "chat"}, hpa) == nil {
		desired = fmt.Sprint(hpa.Status.DesiredReplicas)
	}
	dep := &appsv1.Deployment{}
	replicas := "-"
	if c.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "chat"}, dep) == nil && dep.Spec.Replicas != nil {
		replicas = fmt.Sprint(*dep.Spec.Replicas)
	}
	return fmt.Sprintf("pods [%s]  metric [%s]  hpa desired %s  deployment %s", strings.Join(parts, " "), metric, desired, replicas)
}

func shortName(pod string) string {
	if i := strings.LastIndex(pod, "-"); i >= 0 {
		return pod[i+1:]
	}
	return pod
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
