package controllers

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func deployment(gen, observedGen int64, replicas, updated, ready, available, total int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observedGen, Replicas: total,
			UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available},
	}
}

func TestComputeStatus(t *testing.T) {
	stuck := deployment(2, 2, 3, 1, 1, 1, 3)
	stuck.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "timed out"}}
	tests := []struct {
		name   string
		obs    observed
		ready  metav1.ConditionStatus
		reason string
		// abnormal is the one abnormal-true condition expected, or "".
		abnormal string
	}{
		{"no deployment yet", observed{}, metav1.ConditionFalse, ReasonRollingOut, ConditionReconciling},
		{"not yet observed", observed{deployment: deployment(2, 1, 3, 3, 3, 3, 3)}, metav1.ConditionFalse, ReasonRollingOut, ConditionReconciling},
		{"updating", observed{deployment: deployment(2, 2, 3, 1, 3, 3, 4)}, metav1.ConditionFalse, ReasonRollingOut, ConditionReconciling},
		{"old pods draining", observed{deployment: deployment(2, 2, 3, 3, 3, 3, 4)}, metav1.ConditionFalse, ReasonRollingOut, ConditionReconciling},
		{"not available", observed{deployment: deployment(2, 2, 3, 3, 2, 2, 3)}, metav1.ConditionFalse, ReasonRollingOut, ConditionReconciling},
		{"available", observed{deployment: deployment(2, 2, 3, 3, 3, 3, 3)}, metav1.ConditionTrue, ReasonAvailable, ""},
		{"rollout stuck", observed{deployment: stuck}, metav1.ConditionFalse, ReasonProgressDeadline, ConditionStalled},
		{"secret missing, no pods", observed{missingSecrets: []string{"jwt/secret"}}, metav1.ConditionFalse, ReasonSecretNotFound, ConditionStalled},
		{"secret missing, pods serve", observed{missingSecrets: []string{"jwt/secret"}, deployment: deployment(2, 2, 3, 3, 3, 3, 3)},
			metav1.ConditionFalse, ReasonSecretNotFound, ConditionDegraded},
		{"secret too short", observed{invalidSecrets: []string{"jwt/secret: too short"}}, metav1.ConditionFalse, ReasonSecretInvalid, ConditionStalled},
		{"apply refused as invalid", observed{applyErr: fmt.Errorf("applying Service: %w", apierrors.NewInvalid(
			schema.GroupKind{Kind: "Service"}, "chat", nil)), deployment: deployment(2, 2, 3, 3, 3, 3, 3)},
			metav1.ConditionFalse, ReasonApplyFailed, ConditionStalled},
		{"apply failed", observed{applyErr: errors.New("conflict"), deployment: deployment(2, 2, 3, 3, 3, 3, 3)},
			metav1.ConditionFalse, ReasonApplyFailed, ConditionReconciling},
		{"counts stale", observed{deployment: deployment(2, 2, 3, 3, 3, 3, 3), connections: connectionCount{active: 9, stalePods: 1}},
			metav1.ConditionTrue, ReasonAvailable, ConditionDegraded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rts := minimalRTS()
			rts.Generation = 7
			st := computeStatus(rts, &tt.obs)
			ready := meta.FindStatusCondition(st.Conditions, ConditionReady)
			if ready == nil || ready.Status != tt.ready || ready.Reason != tt.reason || ready.ObservedGeneration != 7 {
				t.Fatalf("Ready = %+v, want %s/%s", ready, tt.ready, tt.reason)
			}
			for _, typ := range []string{ConditionReconciling, ConditionStalled, ConditionDegraded} {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if want := typ == tt.abnormal; want != (c != nil && c.Status == metav1.ConditionTrue) {
					t.Errorf("%s = %+v, want true: %v", typ, c, want)
				}
			}
			if st.ObservedGeneration != 7 || st.Selector != "app.kubernetes.io/instance=chat,app.kubernetes.io/name=fleetwire-runtime" ||
				st.Endpoint != "chat.apps.svc:8080" || st.ActiveConnections != tt.obs.connections.active {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

func TestComputeStatusIsStableAndClearsAbnormalConditions(t *testing.T) {
	rts := minimalRTS()
	rolling := &observed{deployment: deployment(1, 1, 1, 0, 0, 0, 1), connections: connectionCount{stalePods: 1}}
	rts.Status = computeStatus(rts, rolling)
	if !meta.IsStatusConditionTrue(rts.Status.Conditions, ConditionReconciling) {
		t.Fatal("expected Reconciling while rolling out")
	}
	// Observing the same abnormal state again changes nothing, not even a
	// transition time, so nothing is written.
	time.Sleep(1100 * time.Millisecond) // condition times have 1s resolution
	if again := computeStatus(rts, rolling); !reflect.DeepEqual(again, rts.Status) {
		t.Fatalf("status changed without a change in what was observed:\n%+v\n%+v", rts.Status.Conditions, again.Conditions)
	}
	done := &observed{deployment: deployment(1, 1, 1, 1, 1, 1, 1)}
	rts.Status = computeStatus(rts, done)
	if meta.FindStatusCondition(rts.Status.Conditions, ConditionReconciling) != nil {
		t.Fatal("Reconciling stayed after the rollout")
	}
	again := computeStatus(rts, done)
	if len(again.Conditions) != len(rts.Status.Conditions) || again.Conditions[0] != rts.Status.Conditions[0] {
		t.Fatalf("status changed without a change in what was observed:\n%+v\n%+v", rts.Status.Conditions, again.Conditions)
	}
}

func TestMonitoringCondition(t *testing.T) {
	rts := minimalRTS()
	st := computeStatus(rts, &observed{monitoring: optionalCRDMissing, deployment: deployment(1, 1, 1, 1, 1, 1, 1)})
	c := meta.FindStatusCondition(st.Conditions, ConditionMonitoringReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonCRDNotInstalled {
		t.Fatalf("MonitoringReady = %+v", c)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, ConditionReady) {
		t.Error("a missing ServiceMonitor CRD must not make the fleet unready")
	}
	rts.Status = st
	// Nothing applied this time (a Secret is missing): the condition stays.
	st = computeStatus(rts, &observed{missingSecrets: []string{"jwt/secret"}, deployment: deployment(1, 1, 1, 1, 1, 1, 1)})
	if c := meta.FindStatusCondition(st.Conditions, ConditionMonitoringReady); c == nil || c.Reason != ReasonCRDNotInstalled {
		t.Errorf("MonitoringReady = %+v after a reconcile that applied nothing, want it kept", c)
	}
	rts.Status = st
	st = computeStatus(rts, &observed{monitoring: optionalOff, deployment: deployment(1, 1, 1, 1, 1, 1, 1)})
	if meta.FindStatusCondition(st.Conditions, ConditionMonitoringReady) != nil {
		t.Error("MonitoringReady stayed after monitoring was turned off")
	}
	st = computeStatus(rts, &observed{monitoring: optionalFailed, deployment: deployment(1, 1, 1, 1, 1, 1, 1)})
	if c := meta.FindStatusCondition(st.Conditions, ConditionMonitoringReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonMonitorFailed {
		t.Errorf("MonitoringReady after a failed apply = %+v", c)
	}
}

func TestAutoscalerCondition(t *testing.T) {
	rts := minimalRTS()
	for state, want := range map[optionalState]struct {
		status metav1.ConditionStatus
		reason string
	}{
		optionalApplied:    {metav1.ConditionTrue, ReasonScaledObject},
		optionalFailed:     {metav1.ConditionFalse, ReasonScaledObjectFailed},
		optionalCRDMissing: {metav1.ConditionFalse, ReasonKEDANotInstalled},
		optionalNoTotals:   {metav1.ConditionFalse, ReasonFleetTotalsOff},
	} {
		st := computeStatus(rts, &observed{scaledObject: state, deployment: deployment(1, 1, 1, 1, 1, 1, 1)})
		c := meta.FindStatusCondition(st.Conditions, ConditionAutoscalerReady)
		if c == nil || c.Status != want.status || c.Reason != want.reason {
			t.Errorf("state %d: AutoscalerReady = %+v, want %s %s", state, c, want.status, want.reason)
			continue
		}
		if !meta.IsStatusConditionTrue(st.Conditions, ConditionReady) {
			t.Errorf("state %d: the autoscaler's state made the fleet unready", state)
		}
		kept := *rts.DeepCopy()
		kept.Status = st
		if c := meta.FindStatusCondition(computeStatus(&kept, &observed{deployment: deployment(1, 1, 1, 1, 1, 1, 1)}).Conditions, ConditionAutoscalerReady); c == nil || c.Reason != want.reason {
			t.Errorf("state %d: a reconcile that applied nothing dropped the condition: %+v", state, c)
		}
		if meta.FindStatusCondition(computeStatus(&kept, &observed{scaledObject: optionalOff, deployment: deployment(1, 1, 1, 1, 1, 1, 1)}).Conditions, ConditionAutoscalerReady) != nil {
			t.Errorf("state %d: AutoscalerReady stayed after the provider changed", state)
		}
	}
}
