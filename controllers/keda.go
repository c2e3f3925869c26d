package controllers

import (
	"fmt"
	"net/url"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The keda provider. Instead of an HPA, the operator applies a KEDA
// ScaledObject; KEDA then runs the HPA itself and serves it an external
// metric. Its trigger is KEDA's metrics-api scaler, which reads the
// fleet's total connections from the operator (FleetTotals), so the keda
// provider needs neither Prometheus nor the custom metrics API.

// scaledObjectGVK is KEDA's kind; it is built as unstructured so the
// operator does not depend on KEDA's module.
var scaledObjectGVK = struct{ Group, Version, Kind string }{"keda.sh", "v1alpha1", "ScaledObject"}

// FleetTotalsPath is where the operator serves one fleet's total
// connections, followed by namespace/name.
const FleetTotalsPath = "/fleets/"

// fleetTotalsURL is the metrics-api scaler's URL for rts.
func fleetTotalsURL(base, namespace, name string) string {
	return base + FleetTotalsPath + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}

func buildScaledObject(d *desired, totalsBase string) (*unstructured.Unstructured, error) {
	rts := d.rts
	as := rts.Spec.Autoscaling
	behavior, err := runtime.DefaultUnstructuredConverter.ToUnstructured(scaleBehavior(as))
	if err != nil {
		return nil, fmt.Errorf("converting the scale behavior: %w", err)
	}
	// metrics-api with AverageValue: KEDA's HPA divides the fleet's
	// total by the target, as the builtin HPA divides the pods' sum.
	triggers := []any{map[string]any{
		"type":       "metrics-api",
		"name":       "connections",
		"metricType": "AverageValue",
		"metadata": map[string]any{
			"url":           fleetTotalsURL(totalsBase, rts.Namespace, rts.Name),
			"valueLocation": "activeConnections",
			"targetValue":   strconv.Itoa(int(as.TargetConnectionsPerPod)),
		},
	}}
	if as.TargetCPUUtilizationPercentage != nil {
		triggers = append(triggers, map[string]any{
			"type":       "cpu",
			"metricType": "Utilization",
			"metadata":   map[string]any{"value": strconv.Itoa(int(*as.TargetCPUUtilizationPercentage))},
		})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": scaledObjectGVK.Group + "/" + scaledObjectGVK.Version,
		"kind":       scaledObjectGVK.Kind,
		"metadata": map[string]any{
			"name": rts.Name, "namespace": rts.Namespace, "labels": toAny(commonLabels(rts)),
		},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": rts.Name},
			"minReplicaCount": int64(as.MinReplicas),
			"maxReplicaCount": int64(as.MaxReplicas),
			"advanced": map[string]any{
				"horizontalPodAutoscalerConfig": map[string]any{"behavior": behavior},
			},
			"triggers": triggers,
		},
	}}, nil
}
