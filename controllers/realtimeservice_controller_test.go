package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

func rtsOf(t *testing.T, ns, name string) *v1.RealtimeService {
	t.Helper()
	r := &v1.RealtimeService{}
	if err := get(t, ns, name, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// kstatusOf computes the RealtimeService's status the way kstatus-based
// tools (Flux, kpt, kubectl wait on generic conditions) do.
func kstatusOf(t *testing.T, ns, name string) status.Status {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1.GroupVersion.WithKind("RealtimeService"))
	if err := get(t, ns, name, u); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestCreatesOwnedObjectsAndReportsReadiness(t *testing.T) {
	ns := newNamespace(t)
	rts := newRTS(ns, "chat", nil)
	create(t, jwtSecret(ns), rts)

	dep := deploymentOf(t, ns, "chat")
	owned := []client.Object{&corev1.ConfigMap{}, &corev1.ServiceAccount{}, &corev1.Service{}, dep}
	for _, o := range owned {
		eventually(t, fmt.Sprintf("%T", o), func() (bool, string) {
			err := get(t, ns, "chat", o)
			return err == nil, fmt.Sprint(err)
		})
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != "RealtimeService" || ref.Name != "chat" || ref.UID != rtsOf(t, ns, "chat").UID {
			t.Errorf("%T controller reference = %+v", o, ref)
		}
	}
	if *dep.Spec.Replicas != 1 || dep.Spec.Template.Spec.Containers[0].Image != "example/fleetwire:test" {
		t.Errorf("deployment = replicas %d image %q", *dep.Spec.Replicas, dep.Spec.Template.Spec.Containers[0].Image)
	}
	cm := &corev1.ConfigMap{}
	_ = get(t, ns, "chat", cm)
	if !strings.Contains(cm.Data[configFile], "production: true") {
		t.Errorf("config map = %q", cm.Data[configFile])
	}
	for _, o := range []client.Object{&autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}} {
		if err := get(t, ns, "chat", o); !apierrors.IsNotFound(err) {
			t.Errorf("%T for one pod without autoscaling: err = %v, want NotFound", o, err)
		}
	}

	// Pods not yet rolled out: Reconciling, and kstatus InProgress.
	eventually(t, "Reconciling=True", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		return meta.IsStatusConditionTrue(r.Status.Conditions, ConditionReconciling), fmt.Sprint(r.Status.Conditions)
	})
	if s := kstatusOf(t, ns, "chat"); s != status.InProgressStatus {
		t.Errorf("kstatus = %s, want InProgress", s)
	}

	finishRollout(t, ns, "chat")
	eventually(t, "Ready=True", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		return meta.IsStatusConditionTrue(r.Status.Conditions, ConditionReady) && r.Status.ReadyReplicas == 1,
			fmt.Sprint(r.Status)
	})
	r := rtsOf(t, ns, "chat")
	if meta.FindStatusCondition(r.Status.Conditions, ConditionReconciling) != nil || r.Status.ObservedGeneration != r.Generation {
		t.Errorf("status = %+v", r.Status)
	}
	if r.Status.Endpoint != "chat."+ns+".svc:8080" || r.Status.Selector == "" {
		t.Errorf("endpoint %q selector %q", r.Status.Endpoint, r.Status.Selector)
	}
	if s := kstatusOf(t, ns, "chat"); s != status.CurrentStatus {
		t.Errorf("kstatus = %s, want Current", s)
	}

	// With ready pods the operator reconciles every second here (the
	// suite's connection interval); nothing changed, so nothing is written.
	rv := rtsOf(t, ns, "chat").ResourceVersion
	time.Sleep(3 * time.Second)
	if now := rtsOf(t, ns, "chat"); now.ResourceVersion != rv {
		t.Errorf("status was rewritten without a change: resourceVersion %s -> %s", rv, now.ResourceVersion)
	}
}

func TestSpecChangeAndSecretRotationRollTheTemplate(t *testing.T) {
	ns := newNamespace(t)
	secret := jwtSecret(ns)
	create(t, secret, newRTS(ns, "chat", nil))
	first := configHashOf(t, ns, "chat")
	if first == "" {
		t.Fatal("no config hash on the pod template")
	}

	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Limits.MaxConnectionsPerPod = 500
	})
	var second string
	eventually(t, "the template to roll after a spec change", func() (bool, string) {
		second = configHashOf(t, ns, "chat")
		return second != first, second
	})
	cm := &corev1.ConfigMap{}
	_ = get(t, ns, "chat", cm)
	if !strings.Contains(cm.Data[configFile], "maxConnections: 500") {
		t.Errorf("config map does not carry the change:\n%s", cm.Data[configFile])
	}

	secret.Data["secret"] = []byte(strings.Repeat("r", 40))
	if err := k8sClient.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the template to roll after a Secret rotation", func() (bool, string) {
		h := configHashOf(t, ns, "chat")
		return h != second && h != first, h
	})
}

func TestDriftIsRevertedAndDeletedObjectsRecreated(t *testing.T) {
	ns := newNamespace(t)
	create(t, jwtSecret(ns), newRTS(ns, "chat", nil))
	deploymentOf(t, ns, "chat")

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep := deploymentOf(t, ns, "chat")
		dep.Spec.Template.Spec.Containers[0].Image = "someone/else:1"
		dep.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		return k8sClient.Update(context.Background(), dep, client.FieldOwner("kubectl-edit"))
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hand edit to be reverted", func() (bool, string) {
		d := deploymentOf(t, ns, "chat")
		c := d.Spec.Template.Spec.Containers[0]
		return c.Image == "example/fleetwire:test" && *c.SecurityContext.ReadOnlyRootFilesystem,
			c.Image
	})

	svc := &corev1.Service{}
	if err := get(t, ns, "chat", svc); err != nil {
		t.Fatal(err)
	}
	oldUID := svc.UID
	if err := k8sClient.Delete(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Service to be recreated", func() (bool, string) {
		s := &corev1.Service{}
		err := get(t, ns, "chat", s)
		return err == nil && s.UID != oldUID, fmt.Sprint(err)
	})
}

func withRedis(s *v1.RealtimeServiceSpec) {
	s.Redis = &v1.RedisSpec{URL: "redis://redis:6379", Mode: v1.RedisStandalone, KeyPrefix: "fleetwire:"}
}

func TestAutoscalingOnAndOff(t *testing.T) {
	ns := newNamespace(t)
	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) { withRedis(s); s.Replicas = 3 }))
	eventually(t, "three replicas", func() (bool, string) {
		d := deploymentOf(t, ns, "chat")
		return *d.Spec.Replicas == 3, fmt.Sprint(*d.Spec.Replicas)
	})

	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Autoscaling = &v1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 6, TargetConnectionsPerPod: 1000, ScaleDownStabilizationSeconds: 300}
	})
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	eventually(t, "the HPA", func() (bool, string) {
		err := get(t, ns, "chat", hpa)
		return err == nil, fmt.Sprint(err)
	})
	if hpa.Spec.MaxReplicas != 6 || hpa.Spec.Metrics[0].Pods.Metric.Name != connectionsMetric {
		t.Errorf("hpa = %+v", hpa.Spec)
	}
	pdb := &policyv1.PodDisruptionBudget{}
	eventually(t, "the PDB", func() (bool, string) {
		err := get(t, ns, "chat", pdb)
		return err == nil, fmt.Sprint(err)
	})
	for _, o := range []client.Object{hpa, pdb} {
		if ref := metav1.GetControllerOf(o); ref == nil || ref.Kind != "RealtimeService" || ref.Name != "chat" {
			t.Errorf("%T controller reference = %+v", o, ref)
		}
	}

	// The operator gives up spec.replicas: the HPA's choice stands.
	eventually(t, "the operator to release spec.replicas", func() (bool, string) {
		d := deploymentOf(t, ns, "chat")
		for _, mf := range d.ManagedFields {
			if mf.Manager == FieldManager && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.GetRawBytes()), `"f:replicas"`) {
				return false, "the operator still owns spec.replicas"
			}
		}
		return true, ""
	})
	// Letting go of replicas must not reset them: the running pods stay
	// until the HPA decides (no HPA controller runs in envtest).
	if d := deploymentOf(t, ns, "chat"); *d.Spec.Replicas != 3 {
		t.Fatalf("replicas = %d after autoscaling was turned on, want the 3 that were running", *d.Spec.Replicas)
	}
	scaleDeployment(t, ns, "chat", 5)
	// A spec change makes the operator apply a new template; the HPA's
	// replicas must survive it.
	before := configHashOf(t, ns, "chat")
	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Limits.MaxConnectionsPerPod = 4000
	})
	eventually(t, "the operator to apply the new template", func() (bool, string) {
		h := configHashOf(t, ns, "chat")
		return h != before, h
	})
	if d := deploymentOf(t, ns, "chat"); *d.Spec.Replicas != 5 {
		t.Fatalf("replicas = %d after the operator applied, want the HPA's 5", *d.Spec.Replicas)
	}

	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Autoscaling = nil
		r.Spec.Replicas = 3
	})
	eventually(t, "the HPA to be deleted", func() (bool, string) {
		err := get(t, ns, "chat", &autoscalingv2.HorizontalPodAutoscaler{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	eventually(t, "replicas back under the operator", func() (bool, string) {
		d := deploymentOf(t, ns, "chat")
		return *d.Spec.Replicas == 3, fmt.Sprint(*d.Spec.Replicas)
	})

	// At one pod the budget would block node drains: it goes.
	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) { r.Spec.Replicas = 1 })
	eventually(t, "the PDB to be deleted", func() (bool, string) {
		err := get(t, ns, "chat", &policyv1.PodDisruptionBudget{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// scaleDeployment sets replicas as the HPA controller would, through the
// scale subresource under its own field manager.
func scaleDeployment(t *testing.T, ns, name string, n int32) {
	t.Helper()
	dep := deploymentOf(t, ns, name)
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: n}}
	if err := k8sClient.SubResource("scale").Update(context.Background(), dep,
		client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler")); err != nil {
		t.Fatal(err)
	}
}

func TestScaleSubresourceDrivesReplicas(t *testing.T) {
	ns := newNamespace(t)
	create(t, jwtSecret(ns), newRTS(ns, "chat", withRedis))
	deploymentOf(t, ns, "chat")
	r := rtsOf(t, ns, "chat")
	scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 4}}
	if err := k8sClient.SubResource("scale").Update(context.Background(), r, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Deployment to follow the scale subresource", func() (bool, string) {
		d := deploymentOf(t, ns, "chat")
		return *d.Spec.Replicas == 4, fmt.Sprint(*d.Spec.Replicas)
	})
	got := &autoscalingv1.Scale{}
	if err := k8sClient.SubResource("scale").Get(context.Background(), rtsOf(t, ns, "chat"), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Replicas != 4 || got.Status.Selector == "" {
		t.Errorf("scale = %+v", got)
	}
}

func TestMissingSecretStallsThenRecovers(t *testing.T) {
	ns := newNamespace(t)
	create(t, newRTS(ns, "chat", nil))
	eventually(t, "Stalled=True with SecretNotFound", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		c := meta.FindStatusCondition(r.Status.Conditions, ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == ReasonSecretNotFound &&
			strings.Contains(c.Message, "jwt/secret"), fmt.Sprint(r.Status.Conditions)
	})
	if s := kstatusOf(t, ns, "chat"); s != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed while stalled", s)
	}
	eventually(t, "a SecretNotFound Event", func() (bool, string) {
		events := &eventsv1.EventList{}
		if err := k8sClient.List(context.Background(), events, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.Reason == ReasonSecretNotFound && e.Regarding.Name == "chat" && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(events.Items), " events")
	})
	if err := get(t, ns, "chat", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment was created without its Secret: %v", err)
	}

	secret := jwtSecret(ns)
	create(t, secret) // the Secret watch reconciles at once
	deploymentOf(t, ns, "chat")
	eventually(t, "Stalled to clear", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		return meta.FindStatusCondition(r.Status.Conditions, ConditionStalled) == nil, fmt.Sprint(r.Status.Conditions)
	})

	// With pods serving, losing the Secret degrades the fleet instead:
	// the running pods keep their configuration.
	finishRollout(t, ns, "chat")
	eventually(t, "Ready=True", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		return meta.IsStatusConditionTrue(r.Status.Conditions, ConditionReady), fmt.Sprint(r.Status.Conditions)
	})
	if err := k8sClient.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Degraded=True with SecretNotFound", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		c := meta.FindStatusCondition(r.Status.Conditions, ConditionDegraded)
		return c != nil && c.Reason == ReasonSecretNotFound &&
			meta.FindStatusCondition(r.Status.Conditions, ConditionStalled) == nil, fmt.Sprint(r.Status.Conditions)
	})
	if err := get(t, ns, "chat", &appsv1.Deployment{}); err != nil {
		t.Errorf("the Deployment must stay while its Secret is missing: %v", err)
	}
}

func TestShortJWTSecretIsRefusedBeforePodsCrashLoop(t *testing.T) {
	ns := newNamespace(t)
	short := jwtSecret(ns)
	short.Data["secret"] = []byte("too-short")
	create(t, short, newRTS(ns, "chat", nil))
	eventually(t, "Stalled=True with SecretInvalid", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		c := meta.FindStatusCondition(r.Status.Conditions, ConditionStalled)
		return c != nil && c.Reason == ReasonSecretInvalid && strings.Contains(c.Message, "at least 32 bytes, this one has 9"),
			fmt.Sprint(r.Status.Conditions)
	})
	if r := rtsOf(t, ns, "chat"); strings.Contains(fmt.Sprint(r.Status), "too-short") {
		t.Error("the Secret's value leaked into status")
	}
	if err := get(t, ns, "chat", &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment was created with a key the runtime refuses: %v", err)
	}
}

// An object the API server refuses (here a pod label it cannot take)
// stalls the RealtimeService with the server's own message, rather than
// retrying as Reconciling forever.
func TestRefusedObjectStalls(t *testing.T) {
	ns := newNamespace(t)
	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) {
		s.Pod = &v1.PodSpec{Labels: map[string]string{"my team": "chat"}}
	}))
	eventually(t, "Stalled=True with ApplyFailed", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		c := meta.FindStatusCondition(r.Status.Conditions, ConditionStalled)
		return c != nil && c.Reason == ReasonApplyFailed && strings.Contains(c.Message, "my team") &&
			meta.FindStatusCondition(r.Status.Conditions, ConditionReconciling) == nil, fmt.Sprint(r.Status.Conditions)
	})
	if s := kstatusOf(t, ns, "chat"); s != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", s)
	}
	// The objects that could be applied were.
	if err := get(t, ns, "chat", &corev1.Service{}); err != nil {
		t.Errorf("the Service was not applied beside the refused Deployment: %v", err)
	}
}

func TestServiceMonitorWithoutItsCRD(t *testing.T) {
	ns := newNamespace(t)
	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) {
		s.Monitoring = &v1.MonitoringSpec{ServiceMonitor: true}
	}))
	eventually(t, "MonitoringReady=False", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		c := meta.FindStatusCondition(r.Status.Conditions, ConditionMonitoringReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonCRDNotInstalled, fmt.Sprint(r.Status.Conditions)
	})
	deploymentOf(t, ns, "chat") // everything else is still applied

	// Installing the Prometheus Operator's CRD later is picked up on the
	// next reconcile.
	installServiceMonitorCRD(t)
	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Monitoring.Interval = &metav1.Duration{Duration: 15 * time.Second} // a spec change reconciles
	})
	sm := &unstructured.Unstructured{}
	sm.SetGroupVersionKind(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"})
	// A reconcile that started before the spec change may create it with
	// the old interval first.
	eventually(t, "the ServiceMonitor, every 15s", func() (bool, string) {
		if err := get(t, ns, "chat", sm); err != nil {
			return false, err.Error()
		}
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		return len(eps) == 1 && eps[0].(map[string]any)["interval"] == "15s", fmt.Sprintf("endpoints = %v", eps)
	})
	if ref := metav1.GetControllerOf(sm); ref == nil || ref.Name != "chat" {
		t.Errorf("ServiceMonitor controller = %+v", ref)
	}
	eventually(t, "MonitoringReady=True", func() (bool, string) {
		r := rtsOf(t, ns, "chat")
		return meta.IsStatusConditionTrue(r.Status.Conditions, ConditionMonitoringReady), fmt.Sprint(r.Status.Conditions)
	})

	updateRTS(t, ns, "chat", func(r *v1.RealtimeService) {
		r.Spec.Monitoring = nil
	})
	eventually(t, "the ServiceMonitor to be deleted", func() (bool, string) {
		err := get(t, ns, "chat", sm)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// installServiceMonitorCRD installs a schemaless stand-in for the
// Prometheus Operator's ServiceMonitor CRD. It stays for the rest of the
// process, so TestServiceMonitorWithoutItsCRD holds once per process
// (go test -count=1, as make test runs it).
func installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "servicemonitors", Singular: "servicemonitor",
				Kind: "ServiceMonitor", ListKind: "ServiceMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
		},
	}
	if err := envtest.CreateCRDs(restConfig, []*apiextensionsv1.CustomResourceDefinition{crd}); err != nil {
		t.Fatal(err)
	}
	if err := envtest.WaitForCRDs(restConfig, []*apiextensionsv1.CustomResourceDefinition{crd},
		envtest.CRDInstallOptions{MaxTime: 30 * time.Second, PollInterval: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

// TestPodsPassRestrictedPodSecurity creates a pod from the operator's
// template in a namespace that enforces the restricted Pod Security
// Standard, through the API server's own PodSecurity admission.
func TestPodsPassRestrictedPodSecurity(t *testing.T) {
	ns := newNamespace(t)
	nsObj := &corev1.Namespace{}
	if err := get(t, "", ns, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if err := k8sClient.Update(context.Background(), nsObj); err != nil {
		t.Fatal(err)
	}
	pk := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: ns}, Data: map[string][]byte{"pem": []byte("-----BEGIN PUBLIC KEY-----")}}
	create(t, jwtSecret(ns), pk, newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) {
		s.Auth.PublicKeySecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "pk"}, Key: "pem"}
	}))
	tmpl := deploymentOf(t, ns, "chat").Spec.Template
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "from-template", Namespace: ns, Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if err := k8sClient.Create(context.Background(), pod); err != nil {
		t.Fatalf("the restricted profile refused the operator's pod: %v", err)
	}

	// The admission check is live: a privileged pod is refused.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
	if err := k8sClient.Create(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a privileged pod was not refused by PodSecurity: %v", err)
	}
}
