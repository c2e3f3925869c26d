package controllers

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	lua "github.com/yuin/gopher-lua"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// The Argo CD health check (config/argocd/health.lua) run, as Argo CD
// runs it, on status objects the operator's own computeStatus produced,
// next to what kstatus says of the same objects: every kstatus status
// maps to the Argo CD health a person would expect.
func TestArgoCDHealthCheck(t *testing.T) {
	script, err := os.ReadFile("../config/argocd/health.lua")
	if err != nil {
		t.Fatal(err)
	}
	ready := func(gen int64, replicas, updated, available int32) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: gen, Replicas: replicas, UpdatedReplicas: updated,
			ReadyReplicas: available, AvailableReplicas: available}
		return d
	}
	stuck := ready(2, 2, 1, 1)
	stuck.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet chat-7d9f has timed out progressing."}}
	for _, tc := range []struct {
		name        string
		generation  int64 // of the RealtimeService after computeStatus; 0 keeps the observed one
		obs         observed
		wantKStatus status.Status
		wantHealth  string
	}{
		{"rolled out", 0, observed{deployment: ready(1, 2, 2, 2)}, status.CurrentStatus, "Healthy"},
		{"rolling out", 0, observed{deployment: ready(1, 2, 1, 1)}, status.InProgressStatus, "Progressing"},
		{"no Deployment yet", 0, observed{}, status.InProgressStatus, "Progressing"},
		{"a Secret gone while pods run", 0, observed{deployment: ready(1, 2, 2, 2), missingSecrets: []string{"chat-jwt/secret"}}, status.InProgressStatus, "Degraded"}, // kstatus reads Ready=False
		{"counts stale", 0, observed{deployment: ready(1, 2, 2, 2), connections: connectionCount{stalePods: 1}}, status.CurrentStatus, "Degraded"},
		{"a Secret missing before any pod", 0, observed{missingSecrets: []string{"chat-jwt/secret"}}, status.FailedStatus, "Degraded"},
		{"rollout past its deadline", 0, observed{deployment: stuck}, status.FailedStatus, "Degraded"},
		{"a new spec not yet observed", 2, observed{deployment: ready(1, 2, 2, 2)}, status.InProgressStatus, "Progressing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rts := &v1.RealtimeService{TypeMeta: metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "RealtimeService"},
				ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "apps", Generation: 1},
				Spec:       v1.RealtimeServiceSpec{Auth: v1.AuthSpec{JWTSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "chat-jwt"}, Key: "secret"}}}}
			rts.Status = computeStatus(rts, &tc.obs)
			if tc.generation != 0 {
				rts.Generation = tc.generation
			}
			b, err := json.Marshal(rts)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(b, &obj); err != nil {
				t.Fatal(err)
			}
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: u})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantKStatus {
				t.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, tc.wantKStatus)
			}
			health, message := runHealthCheck(t, string(script), obj)
			if health != tc.wantHealth {
				t.Errorf("Argo CD health %s (%q), want %s; conditions %v", health, message, tc.wantHealth, rts.Status.Conditions)
			}
			if message == "" {
				t.Error("no health message")
			}
			t.Logf("kstatus %s; Argo CD %s: %s", res.Status, health, message)
		})
	}
}

// runHealthCheck runs script with obj as the global obj, as Argo CD does,
// and returns the status and message of the table it returns.
func runHealthCheck(t *testing.T, script string, obj map[string]any) (string, string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %v, not a table", L.Get(-1))
	}
	return ret.RawGetString("status").String(), ret.RawGetString("message").String()
}

// toLua converts decoded JSON to Lua values, as Argo CD hands objects to
// its scripts: objects and arrays become tables (arrays from index 1).
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	panic(fmt.Sprintf("not JSON: %T", v))
}
