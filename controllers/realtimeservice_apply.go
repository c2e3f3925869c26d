package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// applyAll applies every owned object and deletes the optional ones the
// spec no longer asks for. Each step runs even when an earlier one failed;
// the errors are joined.
func (r *RealtimeServiceReconciler) applyAll(ctx context.Context, d *desired, obs *observed) error {
	rts := d.rts
	errs := []error{
		r.apply(ctx, rts, buildServiceAccount(d)),
		r.apply(ctx, rts, buildConfigMap(d)),
		r.apply(ctx, rts, buildService(d)),
	}
	if rts.Spec.Autoscaling != nil {
		errs = append(errs, r.handOffReplicas(ctx, rts))
	}
	errs = append(errs, r.apply(ctx, rts, buildDeployment(d)))
	if as := rts.Spec.Autoscaling; as != nil && as.Provider != v1.ProviderKEDA {
		errs = append(errs, r.apply(ctx, rts, buildHPA(d)))
	} else {
		// KEDA runs its own HPA, named keda-hpa-<name>.
		errs = append(errs, r.deleteOwned(ctx, rts, &autoscalingv2.HorizontalPodAutoscaler{}))
	}
	if pdb := buildPDB(d); pdb != nil {
		errs = append(errs, r.apply(ctx, rts, pdb))
	} else {
		errs = append(errs, r.deleteOwned(ctx, rts, &policyv1.PodDisruptionBudget{}))
	}
	errs = append(errs, r.reconcileScaledObject(ctx, d, obs), r.reconcileServiceMonitor(ctx, d, obs))
	return errors.Join(errs...)
}

// handoffManager co-owns the Deployment's replicas while the operator
// hands them to the HPA.
const handoffManager = "fleetwire-operator-replicas-handoff"

// handOffReplicas keeps the Deployment's replica count when autoscaling
// is turned on. Without it, the operator's next apply, which no longer
// sets replicas, would remove a field only it owned, and the API server
// would reset it to 1, draining pods until the HPA scales back up. A
// second manager first claims the current value, so the field survives
// the operator letting go, as the server-side apply docs describe for
// handing a field to another owner.
func (r *RealtimeServiceReconciler) handOffReplicas(ctx context.Context, rts *v1.RealtimeService) error {
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rts), dep); err != nil {
		return client.IgnoreNotFound(err)
	}
	if dep.Spec.Replicas == nil || !ownsField(dep, FieldManager, "f:spec", "f:replicas") {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": dep.Name, "namespace": dep.Namespace},
		"spec":     map[string]any{"replicas": int64(*dep.Spec.Replicas)},
	}}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(handoffManager)); err != nil {
		return fmt.Errorf("handing Deployment replicas to the autoscaler: %w", err)
	}
	return nil
}

// ownsField reports whether manager's apply entry covers the field path.
func ownsField(obj metav1.Object, manager string, path ...string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			return false
		}
		for i, p := range path {
			next, ok := fields[p]
			if !ok {
				return false
			}
			if i == len(path)-1 {
				return true
			}
			if fields, ok = next.(map[string]any); !ok {
				return false
			}
		}
	}
	return false
}

// apply server-side applies obj with rts as its controller. Fields the
// operator stops setting are released, and fields others own, such as
// the replicas an HPA sets, are left alone.
func (r *RealtimeServiceReconciler) apply(ctx context.Context, rts *v1.RealtimeService, obj client.Object) error {
	if err := controllerutil.SetControllerReference(rts, obj, r.Scheme); err != nil {
		return err
	}
	u, err := toApplyObject(obj)
	if err != nil {
		return err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// toApplyObject converts a typed object for apply, dropping what a typed
// object always carries but the operator does not mean to set: status and
// null creation timestamps.
func toApplyObject(obj client.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

// deleteOwned deletes rts's object of obj's kind if rts controls it.
func (r *RealtimeServiceReconciler) deleteOwned(ctx context.Context, rts *v1.RealtimeService, obj client.Object) error {
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(rts), obj)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(obj, rts) {
		return nil // someone else's object of the same name
	}
	if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// reconcileServiceMonitor applies or deletes the ServiceMonitor.
func (r *RealtimeServiceReconciler) reconcileServiceMonitor(ctx context.Context, d *desired, obs *observed) error {
	rts := d.rts
	want := rts.Spec.Monitoring != nil && rts.Spec.Monitoring.ServiceMonitor
	seen := meta.FindStatusCondition(rts.Status.Conditions, ConditionMonitoringReady) != nil
	var err error
	obs.monitoring, err = r.applyOptional(ctx, rts, schema.GroupVersionKind(serviceMonitorGVK), want, seen,
		func() (client.Object, error) { return buildServiceMonitor(d), nil })
	return err
}

// reconcileScaledObject applies the KEDA ScaledObject for the keda
// provider, and deletes it for any other.
func (r *RealtimeServiceReconciler) reconcileScaledObject(ctx context.Context, d *desired, obs *observed) error {
	rts := d.rts
	want := rts.Spec.Autoscaling != nil && rts.Spec.Autoscaling.Provider == v1.ProviderKEDA
	seen := meta.FindStatusCondition(rts.Status.Conditions, ConditionAutoscalerReady) != nil
	if want && r.FleetTotalsURL == "" {
		obs.scaledObject = optionalNoTotals
		return nil
	}
	var err error
	obs.scaledObject, err = r.applyOptional(ctx, rts, schema.GroupVersionKind(scaledObjectGVK), want, seen,
		func() (client.Object, error) { return buildScaledObject(d, r.FleetTotalsURL) })
	return err
}

// applyOptional applies build's object when wanted, and deletes rts's
// object of that kind when not, for a kind whose CRD a cluster may lack.
// A missing CRD is a state, not an error. An object never asked for
// (seen is false: no condition about it) is not looked up at all, which
// spares a discovery call per reconcile in clusters without the CRD.
func (r *RealtimeServiceReconciler) applyOptional(ctx context.Context, rts *v1.RealtimeService, gvk schema.GroupVersionKind,
	want, seen bool, build func() (client.Object, error)) (optionalState, error) {
	if !want && !seen {
		return optionalOff, nil
	}
	_, err := r.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	crdMissing := meta.IsNoMatchError(err)
	if err != nil && !crdMissing {
		return optionalUnchanged, fmt.Errorf("looking up the %s kind: %w", gvk.Kind, err)
	}
	switch {
	case want && crdMissing:
		return optionalCRDMissing, nil
	case want:
		obj, err := build()
		if err == nil {
			err = r.apply(ctx, rts, obj)
		}
		if err != nil {
			return optionalFailed, err
		}
		return optionalApplied, nil
	case crdMissing:
		return optionalOff, nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetName(rts.Name)
	u.SetNamespace(rts.Namespace)
	if err := r.deleteOwned(ctx, rts, u); err != nil {
		// The condition stays, so the retry looks again.
		return optionalUnchanged, err
	}
	return optionalOff, nil
}
