package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
	"github.com/fleetwire/fleetwire/test/k8senv"
)

// The envtest suite: one real kube-apiserver and etcd, and the manager
// running the reconciler, shared by every test; each test works in its
// own namespace. Assertions read through k8sClient, which has no cache.
var (
	k8sClient  client.Client
	restConfig *rest.Config
	testScheme = runtime.NewScheme()
	suiteErr   error
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if err := clientgoscheme.AddToScheme(testScheme); err != nil {
		panic(err)
	}
	if err := v1.AddToScheme(testScheme); err != nil {
		panic(err)
	}
	env, err := k8senv.Environment(filepath.Join("..", "config", "crd", "bases"))
	if err != nil {
		suiteErr = err
		return m.Run() // envtest tests fail with suiteErr; unit tests run
	}
	restConfig, err = env.Start()
	if err != nil {
		suiteErr = fmt.Errorf("starting envtest: %w", err)
		return m.Run()
	}
	defer func() { _ = env.Stop() }()
	k8sClient, err = client.New(restConfig, client.Options{Scheme: testScheme})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startManager(ctx); err != nil {
		suiteErr = err
	}
	return m.Run()
}

func startManager(ctx context.Context) error {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	r := &RealtimeServiceReconciler{
		Client:             mgr.GetClient(),
		APIReader:          mgr.GetAPIReader(),
		Scheme:             mgr.GetScheme(),
		Recorder:           mgr.GetEventRecorder("fleetwire-operator"),
		DefaultImage:       "example/fleetwire:test",
		Connections:        &MetricsScraper{Timeout: time.Second},
		ConnectionInterval: time.Second,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil
}

// zapLevel keeps the manager quiet unless FLEETWIRE_TEST_LOGS is set.
func zapLevel() zapcore.Level {
	if os.Getenv("FLEETWIRE_TEST_LOGS") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// needEnv skips nothing: without envtest the suite's tests fail loudly.
func needEnv(t *testing.T) {
	t.Helper()
	if suiteErr != nil {
		t.Fatal(suiteErr)
	}
}

var nsCounter atomic.Int32

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	needEnv(t)
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	if err := k8sClient.Create(context.Background(), namespaceObj(name)); err != nil {
		t.Fatal(err)
	}
	return name
}

func namespaceObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// eventually polls cond every 100ms for up to 30s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func jwtSecret(ns string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt", Namespace: ns},
		Data: map[string][]byte{"secret": []byte(strings.Repeat("s", 40))}}
}

func newRTS(ns, name string, mutate func(*v1.RealtimeServiceSpec)) *v1.RealtimeService {
	r := &v1.RealtimeService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.RealtimeServiceSpec{Replicas: 1, Auth: v1.AuthSpec{JWTSecretRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "jwt"}, Key: "secret"}}},
	}
	if mutate != nil {
		mutate(&r.Spec)
	}
	return r
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8sClient.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func get(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// deploymentOf waits for the Deployment and returns it.
func deploymentOf(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	dep := &appsv1.Deployment{}
	eventually(t, "the Deployment", func() (bool, string) {
		err := get(t, ns, name, dep)
		return err == nil, fmt.Sprint(err)
	})
	return dep
}

// finishRollout writes the status a Deployment controller would write once
// every pod is updated and available (envtest runs no controllers).
func finishRollout(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "the Deployment status write", func() (bool, string) {
		dep := &appsv1.Deployment{}
		if err := get(t, ns, name, dep); err != nil {
			return false, err.Error()
		}
		n := ptrOr(dep.Spec.Replicas, 1)
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n,
			UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		err := k8sClient.Status().Update(context.Background(), dep)
		return err == nil, fmt.Sprint(err)
	})
}

func configHashOf(t *testing.T, ns, name string) string {
	t.Helper()
	return deploymentOf(t, ns, name).Spec.Template.Annotations[AnnotationConfigHash]
}

// updateRTS changes a RealtimeService's spec, retrying on conflicts with
// the operator's status writes.
func updateRTS(t *testing.T, ns, name string, mutate func(*v1.RealtimeService)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := &v1.RealtimeService{}
		if err := get(t, ns, name, r); err != nil {
			return err
		}
		mutate(r)
		return k8sClient.Update(context.Background(), r)
	})
	if err != nil {
		t.Fatal(err)
	}
}
