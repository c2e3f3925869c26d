package controllers

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// Condition types. Ready is the summary; Reconciling, Stalled and Degraded
// follow the kstatus "abnormal-true" convention and are present only while
// true. MonitoringReady appears only when a ServiceMonitor is requested,
// MetricsAPIReady only for the builtin autoscaling provider, and
// AutoscalerReady only for the keda provider.
const (
	ConditionReady           = "Ready"
	ConditionReconciling     = "Reconciling"
	ConditionStalled         = "Stalled"
	ConditionDegraded        = "Degraded"
	ConditionMonitoringReady = "MonitoringReady"
	ConditionMetricsAPIReady = "MetricsAPIReady"
	ConditionAutoscalerReady = "AutoscalerReady"
)

// Condition reasons.
const (
	ReasonAvailable          = "Available"
	ReasonRollingOut         = "RollingOut"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonSecretInvalid      = "SecretInvalid"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonProgressDeadline   = "ProgressDeadlineExceeded"
	ReasonServiceMonitor     = "ServiceMonitorApplied"
	ReasonCRDNotInstalled    = "ServiceMonitorCRDNotInstalled"
	ReasonConnectionsStale   = "ConnectionCountsStale"
	ReasonMonitorFailed      = "ServiceMonitorApplyFailed"
	ReasonMetricsServed      = "MetricsAPIServed"
	ReasonMetricsElsewhere   = "MetricsAPIHeldElsewhere"
	ReasonScaledObject       = "ScaledObjectApplied"
	ReasonScaledObjectFailed = "ScaledObjectApplyFailed"
	ReasonKEDANotInstalled   = "KEDANotInstalled"
	ReasonFleetTotalsOff     = "FleetTotalsOff"
)

// optionalState is what became of an object whose kind comes from a CRD
// the cluster may lack: a ServiceMonitor or a KEDA ScaledObject.
type optionalState int

const (
	// optionalUnchanged: nothing was applied or deleted this time (a
	// Secret is missing, or a deletion failed), so the condition stays as
	// it was.
	optionalUnchanged optionalState = iota
	optionalOff
	optionalApplied
	optionalFailed
	optionalCRDMissing
	// optionalNoTotals: the keda provider was asked for, but the operator
	// does not serve the fleet totals its trigger reads.
	optionalNoTotals
)

// observed is what one reconcile saw and did; status is computed from it
// alone.
type observed struct {
	deployment     *appsv1.Deployment
	missingSecrets []string // "name/key" of referenced values that do not exist
	invalidSecrets []string // referenced values the runtime would refuse, and why
	applyErr       error
	monitoring     optionalState
	scaledObject   optionalState
	connections    connectionCount
	// metricsAPI is who serves the custom metrics API, for a fleet that
	// autoscales while the operator serves it; nil otherwise.
	metricsAPI *metricsAPIState
}

// metricsAPIState is what MetricsAPIRegistrar.Holder said.
type metricsAPIState struct {
	holder string
	known  bool
}

// computeStatus returns rts's new status. Conditions keep their
// lastTransitionTime unless their status flips, so an unchanged fleet
// yields an identical status and no write.
func computeStatus(rts *v1.RealtimeService, obs *observed) v1.RealtimeServiceStatus {
	st := *rts.Status.DeepCopy()
	st.ObservedGeneration = rts.Generation
	st.Selector = metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: selectorLabels(rts)})
	st.Endpoint = fmt.Sprintf("%s.%s.svc:%d", rts.Name, rts.Namespace, runtimePort)
	st.ActiveConnections = obs.connections.active
	st.StaleConnectionPods = obs.connections.stalePods

	dep := obs.deployment
	var desired int32
	st.DesiredReplicas, st.Replicas, st.ReadyReplicas, st.UpdatedReplicas = 0, 0, 0, 0
	if dep != nil {
		desired = ptrOr(dep.Spec.Replicas, 1)
		st.DesiredReplicas = desired
		st.Replicas = dep.Status.Replicas
		st.ReadyReplicas = dep.Status.ReadyReplicas
		st.UpdatedReplicas = dep.Status.UpdatedReplicas
	}

	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status,
			Reason: reason, Message: msg, ObservedGeneration: rts.Generation})
	}
	// The abnormal conditions wanted now are collected first and set, and
	// only the others removed, so one that stays true keeps its
	// lastTransitionTime and an unchanged fleet writes nothing.
	abnormal := map[string]metav1.Condition{}
	want := func(typ, reason, msg string) {
		abnormal[typ] = metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
	}
	rollout, rollMsg := rolloutState(dep, desired)
	ready := metav1.Condition{Status: metav1.ConditionFalse}
	switch {
	case len(obs.missingSecrets) > 0 || len(obs.invalidSecrets) > 0:
		reason, msg := secretProblem(rts, obs)
		if st.ReadyReplicas > 0 {
			// The running pods keep serving on their old configuration.
			want(ConditionDegraded, reason, msg)
		} else {
			want(ConditionStalled, reason, msg)
		}
		ready.Reason, ready.Message = reason, msg
	case obs.applyErr != nil:
		// A refusal by validation or authorization will not pass on a
		// retry: someone has to act, which kstatus calls Stalled.
		if apierrors.IsInvalid(obs.applyErr) || apierrors.IsForbidden(obs.applyErr) {
			want(ConditionStalled, ReasonApplyFailed, obs.applyErr.Error())
		} else {
			want(ConditionReconciling, ReasonApplyFailed, obs.applyErr.Error())
		}
		ready.Reason, ready.Message = ReasonApplyFailed, obs.applyErr.Error()
	case rollout == rolloutStuck:
		want(ConditionStalled, ReasonProgressDeadline, rollMsg)
		ready.Reason, ready.Message = ReasonProgressDeadline, rollMsg
	case rollout == rolloutInProgress:
		want(ConditionReconciling, ReasonRollingOut, rollMsg)
		ready.Reason, ready.Message = ReasonRollingOut, rollMsg
	default:
		ready = metav1.Condition{Status: metav1.ConditionTrue, Reason: ReasonAvailable, Message: rollMsg}
	}
	if _, ok := abnormal[ConditionDegraded]; !ok && obs.connections.stalePods > 0 {
		want(ConditionDegraded, ReasonConnectionsStale, fmt.Sprintf(
			"%d pod(s) did not answer the connection count; their last known counts are used", obs.connections.stalePods))
	}
	set(ConditionReady, ready.Status, ready.Reason, ready.Message)
	for _, typ := range []string{ConditionReconciling, ConditionStalled, ConditionDegraded} {
		if c, ok := abnormal[typ]; ok {
			set(typ, c.Status, c.Reason, c.Message)
		} else {
			meta.RemoveStatusCondition(&st.Conditions, typ)
		}
	}

	switch obs.monitoring {
	case optionalUnchanged:
	case optionalOff:
		meta.RemoveStatusCondition(&st.Conditions, ConditionMonitoringReady)
	case optionalApplied:
		set(ConditionMonitoringReady, metav1.ConditionTrue, ReasonServiceMonitor, "ServiceMonitor "+rts.Name+" is applied")
	case optionalFailed:
		set(ConditionMonitoringReady, metav1.ConditionFalse, ReasonMonitorFailed, "applying ServiceMonitor "+rts.Name+" failed; see the Reconciling condition and the operator's log")
	case optionalCRDMissing:
		set(ConditionMonitoringReady, metav1.ConditionFalse, ReasonCRDNotInstalled,
			"spec.monitoring.serviceMonitor is set but the cluster has no monitoring.coreos.com/v1 ServiceMonitor CRD; install the Prometheus Operator or turn it off")
	}
	switch obs.scaledObject {
	case optionalUnchanged:
	case optionalOff:
		meta.RemoveStatusCondition(&st.Conditions, ConditionAutoscalerReady)
	case optionalApplied:
		set(ConditionAutoscalerReady, metav1.ConditionTrue, ReasonScaledObject,
			"KEDA ScaledObject "+rts.Name+" is applied; its trigger reads the fleet's connections from the operator")
	case optionalFailed:
		set(ConditionAutoscalerReady, metav1.ConditionFalse, ReasonScaledObjectFailed,
			"applying KEDA ScaledObject "+rts.Name+" failed; see the Reconciling condition and the operator's log")
	case optionalCRDMissing:
		set(ConditionAutoscalerReady, metav1.ConditionFalse, ReasonKEDANotInstalled,
			"spec.autoscaling.provider is keda but the cluster has no keda.sh/v1alpha1 ScaledObject CRD, so nothing scales the fleet; "+
				"install KEDA, or set the provider to builtin")
	case optionalNoTotals:
		set(ConditionAutoscalerReady, metav1.ConditionFalse, ReasonFleetTotalsOff,
			"spec.autoscaling.provider is keda but the operator does not serve fleet totals (--fleet-totals-port=0), "+
				"which its trigger reads; turn them on, or set the provider to builtin")
	}
	switch m := obs.metricsAPI; {
	case m == nil:
		meta.RemoveStatusCondition(&st.Conditions, ConditionMetricsAPIReady)
	case !m.known: // not checked yet: as it was
	case m.holder == "":
		set(ConditionMetricsAPIReady, metav1.ConditionTrue, ReasonMetricsServed,
			"the operator serves realtime_active_connections to the HPA through custom.metrics.k8s.io/v1beta2")
	default:
		set(ConditionMetricsAPIReady, metav1.ConditionFalse, ReasonMetricsElsewhere, metricsElsewhereMessage(m.holder))
	}
	sort.SliceStable(st.Conditions, func(i, j int) bool { return st.Conditions[i].Type < st.Conditions[j].Type })
	return st
}

func metricsElsewhereMessage(holder string) string {
	return fmt.Sprintf("APIService %s is served by %s, not by the operator, so the HPA reads realtime_active_connections there; "+
		"serve the metric from it (for prometheus-adapter, the rule in docs/autoscaling.md) and set spec.autoscaling.provider to prometheus, "+
		"or delete that APIService and the operator registers its own within a minute", CustomMetricsAPIService, holder)
}

// secretProblem names what is wrong with the referenced Secrets; a
// missing value outranks an invalid one.
func secretProblem(rts *v1.RealtimeService, obs *observed) (reason, msg string) {
	var parts []string
	reason = ReasonSecretInvalid
	if len(obs.missingSecrets) > 0 {
		reason = ReasonSecretNotFound
		parts = append(parts, "referenced Secret values not found: "+strings.Join(obs.missingSecrets, ", ")+
			"; create them in namespace "+rts.Namespace)
	}
	if len(obs.invalidSecrets) > 0 {
		parts = append(parts, "referenced Secret values the runtime would refuse: "+strings.Join(obs.invalidSecrets, "; "))
	}
	return reason, strings.Join(parts, ". ")
}

type rollout int

const (
	rolloutDone rollout = iota
	rolloutInProgress
	rolloutStuck
)

// rolloutState reads a Deployment's progress the way kubectl rollout
// status does.
func rolloutState(dep *appsv1.Deployment, desired int32) (rollout, string) {
	if dep == nil {
		return rolloutInProgress, "waiting for the Deployment to be created"
	}
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return rolloutStuck, "the rollout made no progress before its deadline: " + c.Message
		}
	}
	s := dep.Status
	switch {
	case s.ObservedGeneration < dep.Generation:
		return rolloutInProgress, "waiting for the Deployment controller to observe the new template"
	case s.UpdatedReplicas < desired:
		return rolloutInProgress, fmt.Sprintf("%d of %d pods run the current template", s.UpdatedReplicas, desired)
	case s.Replicas > s.UpdatedReplicas:
		return rolloutInProgress, fmt.Sprintf("%d pod(s) with the previous template are still running", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < desired:
		return rolloutInProgress, fmt.Sprintf("%d of %d pods are available", s.AvailableReplicas, desired)
	}
	return rolloutDone, fmt.Sprintf("%d of %d pods are available", s.AvailableReplicas, desired)
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
