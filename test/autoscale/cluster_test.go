// Package autoscale proves autoscaling on connections on a local cluster:
// envtest's kube-apiserver and etcd, a kube-controller-manager running
// the controllers a Deployment and an HPA need, kwok faking a node and
// the kubelet's work, and real runtime processes standing in for the
// pods, each on its pod's own loopback IP.
package autoscale

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/test/k8senv"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
	"github.com/fleetwire/fleetwire/test/testproc"
)

const (
	nodeName = "kwok-node-0"
	// podCIDR hands each pod a loopback address of its own, where its
	// runtime process listens.
	podCIDR = "127.77.0.0/16"
)

// jwtKey signs the tokens of the runtimes standing in for the pods.
var jwtKey = []byte("autoscale-test-key-0123456789abcdef0123")

// localCluster is the cluster, with a fake scheduler and a supervisor
// that runs a runtime process for each running pod.
type localCluster struct {
	env        *envtest.Environment
	kubeconfig string
	client     client.Client

	mu       sync.Mutex
	runtimes map[string]*runtimeproc.Proc // by pod name
	// podInfo holds each pod's downward API annotations file, as the
	// kubelet keeps it, by pod name; annotations is what it last wrote.
	podInfo     string
	annotations map[string]string
}

func startLocalCluster(t *testing.T) *localCluster {
	t.Helper()
	assets, err := k8senv.ClusterAssets()
	if err != nil {
		t.Fatal(err)
	}
	env, err := k8senv.Environment(filepath.Join("..", "..", "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	env.ControlPlane.APIServer = &envtest.APIServer{}
	// The API server advertises 127.0.0.1 only without its endpoint
	// reconciler.
	for _, f := range append(k8senv.FrontProxyFlags(t), "endpoint-reconciler-type=none") {
		name, value, _ := strings.Cut(f, "=")
		env.ControlPlane.APIServer.Configure().Set(name, value)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &localCluster{env: env, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), runtimes: map[string]*runtimeproc.Proc{},
		podInfo: t.TempDir(), annotations: map[string]string{}}
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	if c.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}

	c.run(t, "kube-controller-manager", filepath.Join(assets, "kube-controller-manager"), nil,
		"--kubeconfig="+c.kubeconfig, "--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--controllers=deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller,endpoints-controller,endpointslice-controller,serviceaccount-controller,namespace-controller",
		"--horizontal-pod-autoscaler-sync-period=1s",
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", redistest.FreePort(t)))
	c.run(t, "kwok", filepath.Join(assets, "kwok"), nil,
		"--kubeconfig="+c.kubeconfig, "--config="+filepath.Join(assets, "stages.yaml"),
		"--manage-all-nodes=true", "--cidr="+podCIDR, "--node-ip=127.77.255.254",
		fmt.Sprintf("--server-address=127.0.0.1:%d", redistest.FreePort(t)))

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}, Labels: map[string]string{"type": "kwok"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
	node.Status.Capacity = node.Status.Allocatable
	if err := c.client.Create(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.tend(ctx, t) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

// run starts a component that lives as long as the test, with extra
// environment variables env.
func (c *localCluster) run(t *testing.T, name, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, tail(logs.String(), 8000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// tend plays the scheduler (it binds every unscheduled pod to the fake
// node) and the container runtime (it runs a runtime process on each
// running pod's IP, and stops it, as a kubelet would with SIGTERM, when
// the pod is deleted), until ctx ends.
func (c *localCluster) tend(ctx context.Context, t *testing.T) {
	for ctx.Err() == nil {
		pods := &corev1.PodList{}
		if err := c.client.List(ctx, pods, client.InNamespace("default")); err == nil {
			c.tendPods(ctx, t, pods.Items)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *localCluster) tendPods(ctx context.Context, t *testing.T, pods []corev1.Pod) {
	alive := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		alive[p.Name] = true
		if p.Spec.NodeName == "" {
			b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
				Target: corev1.ObjectReference{Kind: "Node", Name: nodeName}}
			_ = c.client.SubResource("binding").Create(ctx, p, b)
			continue
		}
		c.mu.Lock()
		_, started := c.runtimes[p.Name]
		c.mu.Unlock()
		file := c.writeAnnotations(t, p)
		if !started && p.Status.PodIP != "" {
			proc := runtimeproc.StartOn(t, jwtKey, p.Status.PodIP, 8080, "REBALANCE_ANNOTATIONS_FILE="+file)
			c.mu.Lock()
			c.runtimes[p.Name] = proc
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	var gone []*runtimeproc.Proc
	for name, proc := range c.runtimes {
		if !alive[name] {
			gone = append(gone, proc)
			delete(c.runtimes, name)
		}
	}
	c.mu.Unlock()
	for _, proc := range gone {
		proc.Stop()
	}
}

// writeAnnotations keeps the pod's annotations file as a kubelet keeps a
// downward API volume's (key="value" lines, sorted, the value quoted as
// Go quotes it; the file swapped in whole), and returns its path. The
// kubelet refreshes it on its periodic sync, about a minute; here it is
// every tend.
func (c *localCluster) writeAnnotations(t *testing.T, p *corev1.Pod) string {
	dir := filepath.Join(c.podInfo, p.Name)
	file := filepath.Join(dir, "annotations")
	keys := make([]string, 0, len(p.Annotations))
	for k := range p.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, p.Annotations[k])
	}
	c.mu.Lock()
	same := c.annotations[p.Name] == b.String()
	c.annotations[p.Name] = b.String()
	c.mu.Unlock()
	if same {
		return file
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Error(err)
		return file
	}
	if err := os.WriteFile(file+".tmp", []byte(b.String()), 0o600); err != nil {
		t.Error(err)
		return file
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Error(err)
	}
	return file
}

// runtimeOf returns the runtime process standing in for a pod.
func (c *localCluster) runtimeOf(pod string) *runtimeproc.Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runtimes[pod]
}

// startOperator runs the operator with its custom metrics API on a
// loopback port, registered behind an ExternalName Service to localhost.
func (c *localCluster) startOperator(t *testing.T) {
	t.Helper()
	port := redistest.FreePort(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "fleetwire-custom-metrics", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}}}}
	if err := c.client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	probe := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	bin := testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/operator")
	c.run(t, "operator", bin, []string{"KUBECONFIG=" + c.kubeconfig},
		"--metrics-bind-address=0", "--health-probe-bind-address="+probe, "--namespaces=default",
		"--runtime-image=example/fleetwire:test", "--connection-interval=1s",
		fmt.Sprintf("--custom-metrics-port=%d", port), "--custom-metrics-service=default/fleetwire-custom-metrics",
		fmt.Sprintf("--custom-metrics-service-port=%d", port), "--fleet-totals-port=0")
	waitFor(t, "the operator's /readyz", time.Minute, func() bool { return testproc.Answers200("http://" + probe + "/readyz") })
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}
