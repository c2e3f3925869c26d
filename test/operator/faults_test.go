package operator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// minimalSample is the smallest RealtimeService, "chat", with its Secret.
var minimalSample = filepath.Join("..", "..", "config", "samples", "realtime_v1alpha1_realtimeservice_minimal.yaml")

// TestOperatorRestoresItsFieldsAfterAConflictStorm has another field
// manager force its own image onto the operator's Deployment 50 times in a
// row. The operator takes the field back after each, and once the storm
// ends the Deployment holds the operator's image and, after at most a few
// late writes, nobody writes it for 5s: no hot loop. Printed: the writes
// counted by a watch, and what each late one left.
func TestOperatorRestoresItsFieldsAfterAConflictStorm(t *testing.T) {
	c := startCluster(t)
	c.startOperator(t)
	c.mustKubectl(t, "apply", "-f", minimalSample)
	ctx := context.Background()
	key := client.ObjectKey{Namespace: "default", Name: "chat"}
	var dep appsv1.Deployment
	waitFor(t, "the chat Deployment", func() bool { return c.client.Get(ctx, key, &dep) == nil })
	ours := dep.Spec.Template.Spec.Containers[0].Image

	w, err := c.watcher.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var writes atomic.Int64
	var lastWrite atomic.Int64 // unix nanoseconds of the last write seen
	var seenMu sync.Mutex
	seen := map[string]bool{} // the resource versions the watch has seen
	var described []string    // each write: what it left on the Deployment
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				writes.Add(1)
				lastWrite.Store(time.Now().UnixNano())
			}
			if o, ok := ev.Object.(*appsv1.Deployment); ok {
				seenMu.Lock()
				seen[o.GetResourceVersion()] = true
				described = append(described, describeWrite(o))
				seenMu.Unlock()
			}
		}
	}()

	const storm = 50
	const intruderImage = "example/intruder:1"
	for range storm {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "chat", "namespace": "default"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": dep.Spec.Template.Spec.Containers[0].Name, "image": intruderImage}},
			}}},
		}}
		if err := c.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("intruder"), client.ForceOwnership); err != nil {
			t.Fatalf("the intruder's apply: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stormWrites := writes.Load()
	start := time.Now()
	waitFor(t, "the operator's image back", func() bool {
		return c.client.Get(ctx, key, &dep) == nil && dep.Spec.Template.Spec.Containers[0].Image == ours
	})
	restored := time.Since(start)
	// The watch may tell of the write that restored the image after the
	// Get saw it: it counts as the storm's, not as one after.
	waitFor(t, "the watch to see the restored Deployment", func() bool {
		seenMu.Lock()
		defer seenMu.Unlock()
		return seen[dep.ResourceVersion]
	})
	// A reconcile the storm queued may still write once after the image is
	// back; a hot loop never stops. So the test waits, for 30s at most,
	// for 5s without a write, and the writes before that must be few.
	restoredWrites := writes.Load()
	seenMu.Lock()
	trailFrom := len(described)
	seenMu.Unlock()
	const quietFor, giveUp, fewWrites = 5 * time.Second, 30 * time.Second, 3
	for {
		if time.Since(time.Unix(0, lastWrite.Load())) >= quietFor {
			break
		}
		if time.Since(start) > giveUp {
			t.Fatalf("the Deployment was still written %s after the storm, %d times since the image was back: a hot loop", giveUp, writes.Load()-restoredWrites)
		}
		time.Sleep(100 * time.Millisecond)
	}
	trailing := writes.Load() - restoredWrites
	seenMu.Lock()
	trail := append([]string(nil), described[trailFrom:]...)
	seenMu.Unlock()
	t.Logf("conflict storm: %d forced applies by another manager; %d Deployment writes during it, so %d by the operator; its image back %s after the storm; then %d writes %q before %s without one",
		storm, stormWrites, stormWrites-storm, restored.Round(time.Millisecond), trailing, trail, quietFor)
	if trailing > fewWrites {
		t.Fatalf("%d writes to the Deployment after its image was back: a hot loop", trailing)
	}
	if stormWrites-storm > 2*storm {
		t.Errorf("the operator wrote %d times for %d intrusions", stormWrites-storm, storm)
	}
}

// TestOperatorCarriesOnThroughAnAPIServerRestart restarts the
// kube-apiserver right after a RealtimeService is created, as the
// operator starts on it. The operator finishes that RealtimeService and
// reconciles one created after the restart. If the API server stays away
// longer than the leader Lease's renew deadline (10s), which happens when
// the machine is loaded, the operator exits, as controller-runtime's
// leader election requires so that two leaders never act at once; the
// test then starts it again, as its Deployment would.
func TestOperatorCarriesOnThroughAnAPIServerRestart(t *testing.T) {
	c := startCluster(t)
	op := c.startOperator(t)
	c.mustKubectl(t, "apply", "-f", minimalSample)
	start := time.Now()
	if err := c.env.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatalf("stopping the kube-apiserver: %v", err)
	}
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatalf("starting the kube-apiserver again: %v", err)
	}
	down := time.Since(start)
	ctx := context.Background()
	var dep appsv1.Deployment
	exited := ""
	present := func(name string) func() bool {
		return func() bool {
			if exited == "" && op.exited() {
				exited = fmt.Sprint(op.err)
				op = c.startOperator(t)
			}
			return c.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &dep) == nil
		}
	}
	waitFor(t, "the chat Deployment", present("chat"))
	second := strings.ReplaceAll(strings.ReplaceAll(mustRead(t, minimalSample), "name: chat-jwt", "name: chat2-jwt"), "name: chat\n", "name: chat2\n")
	c.mustKubectlStdin(t, second, "apply", "-f", "-")
	waitFor(t, "the Deployment of a RealtimeService created after the restart", present("chat2"))
	if exited == "" {
		t.Logf("kube-apiserver restart: down for %s; the operator kept running and reconciled what was created before and after it", down.Round(time.Millisecond))
	} else {
		t.Logf("kube-apiserver restart: down for %s; the operator lost its lease and exited (%s); started again, it reconciled what was created before and after", down.Round(time.Millisecond), exited)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestANewLeaderFinishesWhatAKilledOneStarted runs two operators. The
// leader is killed (SIGKILL: no Lease release) as soon as the first object
// of a new RealtimeService appears; the other takes the Lease when it
// expires and finishes the RealtimeService, with one of each object.
func TestANewLeaderFinishesWhatAKilledOneStarted(t *testing.T) {
	c := startCluster(t)
	leader := c.startOperator(t)
	holder := func() string {
		out, _ := c.kubectl(t, "get", "lease", "operator.realtime.fleetwire.io", "-n", "default", "-o", "jsonpath={.spec.holderIdentity}")
		return out
	}
	waitFor(t, "the first operator to lead", func() bool { return holder() != "" })
	first := holder()
	c.startOperator(t)
	c.mustKubectl(t, "apply", "-f", minimalSample)
	waitFor(t, "the first object of chat", func() bool {
		out, _ := c.kubectl(t, "get", "serviceaccounts,configmaps,services,deployments", "-n", "default",
			"-l", "app.kubernetes.io/instance=chat", "-o", "name")
		return strings.TrimSpace(out) != ""
	})
	killed := time.Now()
	_ = leader.cmd.Process.Kill()
	<-leader.done
	waitFor(t, "the second operator to lead", func() bool { h := holder(); return h != "" && h != first })
	took := time.Since(killed)
	var dep appsv1.Deployment
	waitFor(t, "the chat Deployment", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &dep) == nil
	})
	for _, kind := range []string{"deployments", "services", "configmaps"} {
		out := c.mustKubectl(t, "get", kind, "-n", "default", "-l", "app.kubernetes.io/instance=chat", "-o", "name")
		if n := len(strings.Fields(out)); n != 1 {
			t.Errorf("%d %s of chat after the handover, want 1:\n%s", n, kind, out)
		}
	}
	t.Logf("leader killed mid-apply; the other led %s later and finished chat", took.Round(time.Millisecond))
}

// describeWrite names what a write left on the Deployment: its resource
// version, generation, image and field managers.
func describeWrite(d *appsv1.Deployment) string {
	var managers []string
	for _, m := range d.ManagedFields {
		managers = append(managers, m.Manager+"/"+string(m.Operation))
	}
	image := ""
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		image = cs[0].Image
	}
	return fmt.Sprintf("rv %s gen %d image %s managers %v", d.ResourceVersion, d.Generation, image, managers)
}
