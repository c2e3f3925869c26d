package controllers

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// The collector reports each RealtimeService's status, and nothing for
// one that is gone.
func TestFleetCollector(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rts := &v1.RealtimeService{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "chat", Generation: 3},
		Spec: v1.RealtimeServiceSpec{Autoscaling: &v1.AutoscalingSpec{MaxReplicas: 10, TargetConnectionsPerPod: 5000}}}
	rts.Status = v1.RealtimeServiceStatus{ObservedGeneration: 2, DesiredReplicas: 3, ReadyReplicas: 2, ActiveConnections: 1234, StaleConnectionPods: 1,
		Conditions: []metav1.Condition{{Type: ConditionReady, Status: metav1.ConditionFalse}, {Type: ConditionDegraded, Status: metav1.ConditionTrue}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rts).Build()
	r := prometheus.NewRegistry()
	r.MustRegister(NewFleetCollector(c))
	want := `
# HELP fleetwire_realtimeservice_active_connections Open connections on the RealtimeService's ready pods, as last counted (status.activeConnections).
# TYPE fleetwire_realtimeservice_active_connections gauge
fleetwire_realtimeservice_active_connections{name="chat",namespace="apps"} 1234
# HELP fleetwire_realtimeservice_condition 1 for each condition's current status (True, False or Unknown), 0 for the others.
# TYPE fleetwire_realtimeservice_condition gauge
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="False",type="Degraded"} 0
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="False",type="Ready"} 1
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="True",type="Degraded"} 1
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="True",type="Ready"} 0
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="Unknown",type="Degraded"} 0
fleetwire_realtimeservice_condition{name="chat",namespace="apps",status="Unknown",type="Ready"} 0
# HELP fleetwire_realtimeservice_desired_replicas Replicas the RealtimeService's Deployment wants (status.desiredReplicas).
# TYPE fleetwire_realtimeservice_desired_replicas gauge
fleetwire_realtimeservice_desired_replicas{name="chat",namespace="apps"} 3
# HELP fleetwire_realtimeservice_generation_observed 1 when the operator has acted on the RealtimeService's latest spec (status.observedGeneration equals metadata.generation), else 0.
# TYPE fleetwire_realtimeservice_generation_observed gauge
fleetwire_realtimeservice_generation_observed{name="chat",namespace="apps"} 0
# HELP fleetwire_realtimeservice_max_replicas The autoscaler's most pods (spec.autoscaling.maxReplicas); absent without autoscaling.
# TYPE fleetwire_realtimeservice_max_replicas gauge
fleetwire_realtimeservice_max_replicas{name="chat",namespace="apps"} 10
# HELP fleetwire_realtimeservice_ready_replicas Ready runtime pods of the RealtimeService (status.readyReplicas).
# TYPE fleetwire_realtimeservice_ready_replicas gauge
fleetwire_realtimeservice_ready_replicas{name="chat",namespace="apps"} 2
# HELP fleetwire_realtimeservice_stale_connection_pods Ready pods whose connection count could not be read at the last count (status.staleConnectionPods).
# TYPE fleetwire_realtimeservice_stale_connection_pods gauge
fleetwire_realtimeservice_stale_connection_pods{name="chat",namespace="apps"} 1
# HELP fleetwire_realtimeservice_target_connections_per_pod The autoscaler's target of connections per pod (spec.autoscaling.targetConnectionsPerPod); absent without autoscaling.
# TYPE fleetwire_realtimeservice_target_connections_per_pod gauge
fleetwire_realtimeservice_target_connections_per_pod{name="chat",namespace="apps"} 5000
`
	if err := testutil.GatherAndCompare(r, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), rts); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(r); err != nil || n != 0 {
		t.Fatalf("after the delete: %d series (%v), want none", n, err)
	}
}
