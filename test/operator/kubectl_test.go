package operator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/k8senv"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// cluster is a real kube-apiserver and etcd with the CRD installed, the
// operator binary running against them, and kubectl pointed at them.
type cluster struct {
	env        *envtest.Environment
	kubeconfig string
	kubectlBin string
	client     client.Client
	watcher    client.WithWatch
}

// operatorProc is a running operator process.
type operatorProc struct {
	cmd     *exec.Cmd
	metrics string        // its metrics address
	done    chan struct{} // closed once it has exited, with err its exit
	err     error
}

// exited reports whether the process has ended.
func (p *operatorProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startCluster starts the cluster; each of apiserverFlags ("name=value")
// is passed to the kube-apiserver.
func startCluster(t *testing.T, apiserverFlags ...string) *cluster {
	t.Helper()
	env, err := k8senv.Environment(filepath.Join("..", "..", "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	// Certificates in a folder of the test's own survive a restart of the
	// kube-apiserver, as a real one's do; envtest would make new ones.
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: t.TempDir()}
	for _, f := range apiserverFlags {
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
	c := &cluster{env: env, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), kubectlBin: filepath.Join(env.BinaryAssetsDirectory, "kubectl")}
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.kubectlBin); err != nil {
		if c.kubectlBin, err = exec.LookPath("kubectl"); err != nil {
			t.Fatal("kubectl not found in the envtest assets or on PATH")
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if c.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	if c.watcher, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	return c
}

// startOperator builds and runs cmd/operator against the cluster, with
// leader election, secure metrics on a loopback port and its watches
// scoped to the default namespace, without its custom metrics API unless
// extra flags (which come last, and so win) turn it on.
func (c *cluster) startOperator(t *testing.T, extra ...string) *operatorProc {
	t.Helper()
	bin := testproc.Binary(t, "github.com/fleetwire/fleetwire/cmd/operator")
	probe := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	p := &operatorProc{metrics: fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t)), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"--metrics-bind-address=" + p.metrics, "--health-probe-bind-address=" + probe,
		"--leader-elect", "--leader-election-namespace=default", "--namespaces=default",
		"--runtime-image=example/fleetwire:test", "--connection-interval=1s", "--custom-metrics-port=0", "--fleet-totals-port=0"}, extra...)...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	logs := &testproc.Buffer{}
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("operator logs:\n%s", logs.String())
		}
	})
	waitFor(t, "the operator's /readyz", func() bool { return testproc.Answers200("http://" + probe + "/readyz") })
	return p
}

func (c *cluster) kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustKubectlStdin runs kubectl with stdin as its input.
func (c *cluster) mustKubectlStdin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *cluster) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestKubectlDrivesTheOperator applies the samples with kubectl, reads
// them back the way a person would, and waits for Ready once the
// Deployment reports its pods.
func TestKubectlDrivesTheOperator(t *testing.T) {
	c := startCluster(t)
	metrics := c.startOperator(t).metrics

	// Outside the watched namespace nothing happens.
	c.mustKubectl(t, "create", "namespace", "elsewhere")
	c.mustKubectl(t, "apply", "-n", "elsewhere", "-f", filepath.Join("..", "..", "config", "samples", "realtime_v1alpha1_realtimeservice_minimal.yaml"))

	out := c.mustKubectl(t, "apply", "-f", filepath.Join("..", "..", "config", "samples"))
	for _, want := range []string{"secret/chat-jwt created", "realtimeservice.realtime.fleetwire.io/chat created",
		"realtimeservice.realtime.fleetwire.io/notify created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}

	// The operator creates the Deployments; the test plays the Deployment
	// controller for chat.
	var dep appsv1.Deployment
	waitFor(t, "the chat Deployment", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &dep) == nil
	})
	// The production sample's rendered config loads in the runtime.
	var cm corev1.ConfigMap
	waitFor(t, "the notify ConfigMap", func() bool {
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "notify"}, &cm) == nil
	})
	cfg := config.Default()
	if err := config.Parse([]byte(cm.Data["runtime.yaml"]), &cfg); err != nil {
		t.Fatalf("the runtime cannot parse notify's config: %v", err)
	}
	cfg.Auth.Secret, cfg.RedisURL = strings.Repeat("k", 32), "redis://redis.default.svc:6379/0" // from the Secrets at run time
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the runtime refuses notify's config: %v", err)
	}
	if cfg.RateLimit.Tiers["premium"].Messages == nil || len(cfg.CORS.Origins) != 2 || cfg.Limits.MaxConnections != 20000 {
		t.Errorf("notify's config lost sample settings: %+v", cfg)
	}

	out = c.mustKubectl(t, "get", "realtimeservices")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if strings.Join(header, " ") != "NAME DESIRED READY CONNECTIONS STATUS AGE" {
		t.Errorf("get columns = %v\n%s", header, out)
	}
	if !strings.Contains(out, "chat") || !strings.Contains(out, "notify") {
		t.Errorf("get lacks the samples:\n%s", out)
	}
	if out := c.mustKubectl(t, "get", "rts", "-o", "name"); !strings.Contains(out, "realtimeservice.realtime.fleetwire.io/chat") {
		t.Errorf("short name rts: %s", out)
	}
	if out := c.mustKubectl(t, "get", "fleetwire"); !strings.Contains(out, "chat") {
		t.Errorf("category fleetwire: %s", out)
	}

	if out, err := c.kubectl(t, "get", "deployment", "chat", "-n", "elsewhere"); err == nil {
		t.Errorf("the operator reconciled a namespace outside --namespaces:\n%s", out)
	}
	// It holds the leader-election Lease.
	if out := c.mustKubectl(t, "get", "lease", "operator.realtime.fleetwire.io", "-n", "default",
		"-o", "jsonpath={.spec.holderIdentity}"); out == "" {
		t.Error("no holder on the leader-election Lease")
	}
	// Its metrics are served over TLS, and only to authenticated callers.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the operator's self-signed certificate
	resp, err := hc.Get("https://" + metrics + "/metrics")
	if err != nil {
		t.Fatalf("metrics over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET /metrics = %s, want 401 or 403", resp.Status)
	}

	out = c.mustKubectl(t, "explain", "realtimeservice.spec.redis")
	for _, want := range []string{"urlSecretRef", "sentinelMaster", "KeyPrefix starts every Redis key"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}

	// Not ready yet: a short wait times out.
	if out, err := c.kubectl(t, "wait", "--for=condition=Ready", "rts/chat", "--timeout=2s"); err == nil {
		t.Fatalf("wait succeeded before any pod was ready:\n%s", out)
	}
	waitFor(t, "the Deployment status write", func() bool {
		if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "chat"}, &dep); err != nil {
			return false
		}
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1,
			ReadyReplicas: 1, AvailableReplicas: 1}
		return c.client.Status().Update(context.Background(), &dep) == nil
	})
	c.mustKubectl(t, "wait", "--for=condition=Ready", "rts/chat", "--timeout=60s")
	out = c.mustKubectl(t, "get", "rts", "chat")
	if f := strings.Fields(strings.Split(out, "\n")[1]); len(f) < 5 || f[1] != "1" || f[2] != "1" || f[4] != "True" {
		t.Errorf("get rts chat after ready:\n%s", out)
	}

	// CEL messages reach kubectl users as written.
	out, err = c.kubectl(t, "scale", "rts/chat", "--replicas=3")
	if err == nil || !strings.Contains(out, "more than one replica needs spec.redis") {
		t.Errorf("scaling past one pod without Redis: err %v\n%s", err, out)
	}
}

// TestInstallManifestsApply renders config/default with kubectl's
// kustomize and applies it to a real API server: the CRD, RBAC from the
// markers and the manager Deployment must all be accepted.
func TestInstallManifestsApply(t *testing.T) {
	c := startCluster(t)
	dir := filepath.Join("..", "..", "config", "default")
	rendered := c.mustKubectl(t, "kustomize", dir)
	for _, want := range []string{"kind: CustomResourceDefinition", "kind: ClusterRole", "name: fleetwire-operator",
		"readOnlyRootFilesystem: true", "--leader-elect"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("kustomize output lacks %q", want)
		}
	}
	out := c.mustKubectl(t, "apply", "--server-side", "--force-conflicts", "-k", dir)
	for _, want := range []string{"namespace/fleetwire-system", "deployment.apps/fleetwire-operator",
		"clusterrole.rbac.authorization.k8s.io/fleetwire-operator"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// The generated role grants what the reconciler does.
	out = c.mustKubectl(t, "auth", "can-i", "patch", "deployments.apps",
		"--as=system:serviceaccount:fleetwire-system:fleetwire-operator", "-n", "default")
	if strings.TrimSpace(out) != "yes" {
		t.Errorf("the operator's service account cannot patch Deployments: %s", out)
	}
	out, _ = c.kubectl(t, "auth", "can-i", "delete", "secrets",
		"--as=system:serviceaccount:fleetwire-system:fleetwire-operator", "-n", "default")
	if strings.TrimSpace(out) != "no" {
		t.Errorf("the operator's service account may delete Secrets: %s", out)
	}
	checkCustomMetricsRBAC(t, c, "system:serviceaccount:fleetwire-system:fleetwire-operator")
}

// checkCustomMetricsRBAC checks that the installed RBAC lets the operator
// (as sa) serve the custom metrics API, and the HPA controller read it.
func checkCustomMetricsRBAC(t *testing.T, c *cluster, sa string) {
	t.Helper()
	for _, check := range []struct{ as, verb, resource, ns string }{
		{sa, "create", "apiservices.apiregistration.k8s.io", ""},
		{sa, "update", "apiservices.apiregistration.k8s.io", ""},
		{sa, "create", "tokenreviews.authentication.k8s.io", ""},
		{sa, "create", "subjectaccessreviews.authorization.k8s.io", ""},
		{sa, "get", "configmaps/extension-apiserver-authentication", "kube-system"},
		{sa, "patch", "pods", "default"},
	} {
		args := []string{"auth", "can-i", check.verb, check.resource, "--as=" + check.as}
		if check.ns != "" {
			args = append(args, "-n", check.ns)
		}
		// kubectl warns first about cluster-scoped resources, and about
		// the metrics' resources, which no API serves yet.
		out, _ := c.kubectl(t, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if lines[len(lines)-1] != "yes" {
			t.Errorf("%s cannot %s %s: %s", check.as, check.verb, check.resource, out)
		}
	}
	// kubectl cannot ask about a group no API serves yet: ask the API
	// server directly.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: "custom.metrics.k8s.io", Resource: "pods", Verb: "get", Namespace: "default", Name: "*"}}}
	if err := c.client.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	if !sar.Status.Allowed {
		t.Errorf("the HPA controller may not read the custom metrics: %+v", sar.Status)
	}
}

// TestKubectlScaleIsRefusedWhileAutoscaling: with autoscaling set, the
// autoscaler owns the pod count, so `kubectl scale` would answer "scaled"
// and change nothing. The CRD refuses it with a message that says what to
// change instead; removing autoscaling and setting replicas in one change
// is accepted, and kubectl scale works again after.
func TestKubectlScaleIsRefusedWhileAutoscaling(t *testing.T) {
	c := startCluster(t)
	c.applyAutoscalingChat(t, "{minReplicas: 2, maxReplicas: 5}")
	out, err := c.kubectl(t, "scale", "rts/chat", "--replicas=4")
	if err == nil || !strings.Contains(out, "autoscaling.minReplicas") || !strings.Contains(out, "spec.replicas cannot change while autoscaling is set") {
		t.Fatalf("kubectl scale on an autoscaled RealtimeService: err %v\n%s", err, out)
	}
	// Changing the autoscaling bounds is the way, and is accepted.
	c.mustKubectl(t, "patch", "rts", "chat", "--type=merge", "-p", `{"spec":{"autoscaling":{"minReplicas":4}}}`)
	c.mustKubectl(t, "patch", "rts", "chat", "--type=merge", "-p", `{"spec":{"autoscaling":null,"replicas":4}}`)
	c.mustKubectl(t, "scale", "rts/chat", "--replicas=3")
	if got := c.mustKubectl(t, "get", "rts", "chat", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Fatalf("spec.replicas after kubectl scale without autoscaling: %q", got)
	}
}
