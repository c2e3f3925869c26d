package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// The builtin provider of the custom metrics API. The HPA the operator
// creates asks custom.metrics.k8s.io for the Pods metric
// realtime_active_connections of a fleet's pods; CustomMetrics answers
// with the counts the operator read for status, so nothing else needs to
// be installed. A pod whose count is not fresh is left out of the answer,
// not reported as zero: the HPA then treats it as it treats a pod without
// metrics, instead of scaling down on a count nobody read.

var podsResource = schema.GroupResource{Resource: "pods"}

// CustomMetrics serves realtime_active_connections for pods, from a
// MetricsScraper's last reads.
type CustomMetrics struct {
	// Pods lists the pods a query selects.
	Pods client.Reader
	// Counts holds each pod's last count.
	Counts *MetricsScraper
	// MaxAge is how old a count may be and still be served: the
	// connection interval, plus the time one count may take.
	MaxAge time.Duration
}

var _ provider.CustomMetricsProvider = (*CustomMetrics)(nil)

// ListAllMetrics implements provider.CustomMetricsProvider.
func (m *CustomMetrics) ListAllMetrics() []provider.CustomMetricInfo {
	return []provider.CustomMetricInfo{{GroupResource: podsResource, Namespaced: true, Metric: connectionsMetric}}
}

// GetMetricByName implements provider.CustomMetricsProvider.
func (m *CustomMetrics) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, _ labels.Selector) (*custom_metrics.MetricValue, error) {
	if !m.serves(info) {
		return nil, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	pod := &corev1.Pod{}
	if err := m.Pods.Get(ctx, name, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
		}
		return nil, fmt.Errorf("reading pod %s: %w", name, err)
	}
	v, ok := m.value(pod)
	if !ok {
		return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	}
	return v, nil
}

// GetMetricBySelector implements provider.CustomMetricsProvider.
func (m *CustomMetrics) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, _ labels.Selector) (*custom_metrics.MetricValueList, error) {
	if !m.serves(info) {
		return nil, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	pods := &corev1.PodList{}
	if err := m.Pods.List(ctx, pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	out := &custom_metrics.MetricValueList{}
	for i := range pods.Items {
		if v, ok := m.value(&pods.Items[i]); ok {
			out.Items = append(out.Items, *v)
		}
	}
	return out, nil
}

func (m *CustomMetrics) serves(info provider.CustomMetricInfo) bool {
	return info.GroupResource == podsResource && info.Metric == connectionsMetric
}

// value is the pod's count, if one no older than MaxAge was read.
func (m *CustomMetrics) value(pod *corev1.Pod) (*custom_metrics.MetricValue, bool) {
	s, ok := m.Counts.freshRead(pod.UID, m.MaxAge)
	if !ok {
		return nil, false
	}
	return &custom_metrics.MetricValue{
		DescribedObject: custom_metrics.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name},
		Metric:          custom_metrics.MetricIdentifier{Name: connectionsMetric},
		Timestamp:       metav1.NewTime(s.at),
		Value:           *resource.NewQuantity(s.value, resource.DecimalSI),
	}, true
}
