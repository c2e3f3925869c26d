package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// FleetCollector exports each RealtimeService's status as gauges, read
// from the operator's cache at each scrape, as kube-state-metrics does for
// built-in kinds: the alerts and the dashboard that the chart installs use
// them. A deleted RealtimeService's series go with it.
type FleetCollector struct {
	reader client.Reader
}

// NewFleetCollector returns a collector reading RealtimeServices through
// reader (the manager's cache).
func NewFleetCollector(reader client.Reader) *FleetCollector {
	return &FleetCollector{reader: reader}
}

var (
	fleetLabels         = []string{"namespace", "name"}
	fleetDesiredDesc    = prometheus.NewDesc("fleetwire_realtimeservice_desired_replicas", "Replicas the RealtimeService's Deployment wants (status.desiredReplicas).", fleetLabels, nil)
	fleetReadyDesc      = prometheus.NewDesc("fleetwire_realtimeservice_ready_replicas", "Ready runtime pods of the RealtimeService (status.readyReplicas).", fleetLabels, nil)
	fleetConnsDesc      = prometheus.NewDesc("fleetwire_realtimeservice_active_connections", "Open connections on the RealtimeService's ready pods, as last counted (status.activeConnections).", fleetLabels, nil)
	fleetStaleDesc      = prometheus.NewDesc("fleetwire_realtimeservice_stale_connection_pods", "Ready pods whose connection count could not be read at the last count (status.staleConnectionPods).", fleetLabels, nil)
	fleetConditionDesc  = prometheus.NewDesc("fleetwire_realtimeservice_condition", "1 for each condition's current status (True, False or Unknown), 0 for the others.", append(fleetLabels, "type", "status"), nil)
	fleetTargetDesc     = prometheus.NewDesc("fleetwire_realtimeservice_target_connections_per_pod", "The autoscaler's target of connections per pod (spec.autoscaling.targetConnectionsPerPod); absent without autoscaling.", fleetLabels, nil)
	fleetMaxDesc        = prometheus.NewDesc("fleetwire_realtimeservice_max_replicas", "The autoscaler's most pods (spec.autoscaling.maxReplicas); absent without autoscaling.", fleetLabels, nil)
	fleetGenerationDesc = prometheus.NewDesc("fleetwire_realtimeservice_generation_observed", "1 when the operator has acted on the RealtimeService's latest spec (status.observedGeneration equals metadata.generation), else 0.", fleetLabels, nil)
)

// Describe implements prometheus.Collector.
func (c *FleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fleetDesiredDesc, fleetReadyDesc, fleetConnsDesc, fleetStaleDesc, fleetConditionDesc, fleetTargetDesc, fleetMaxDesc, fleetGenerationDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *FleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1.RealtimeServiceList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(fleetDesiredDesc, err)
		return
	}
	for i := range list.Items {
		r := &list.Items[i]
		l := []string{r.Namespace, r.Name}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
		}
		gauge(fleetDesiredDesc, float64(r.Status.DesiredReplicas))
		gauge(fleetReadyDesc, float64(r.Status.ReadyReplicas))
		gauge(fleetConnsDesc, float64(r.Status.ActiveConnections))
		gauge(fleetStaleDesc, float64(r.Status.StaleConnectionPods))
		if as := r.Spec.Autoscaling; as != nil {
			gauge(fleetTargetDesc, float64(as.TargetConnectionsPerPod))
			gauge(fleetMaxDesc, float64(as.MaxReplicas))
		}
		observed := 0.0
		if r.Status.ObservedGeneration == r.Generation {
			observed = 1
		}
		gauge(fleetGenerationDesc, observed)
		for _, cond := range r.Status.Conditions {
			for _, s := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
				v := 0.0
				if cond.Status == s {
					v = 1
				}
				gauge(fleetConditionDesc, v, cond.Type, string(s))
			}
		}
	}
}
