package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetwire/fleetwire/runtime/health"
	"github.com/fleetwire/fleetwire/runtime/metrics"
)

// nodeCollector exports what the alerts and the dashboard need of the
// node's own state at scrape time: its connection cap, and whether its
// broker answered the last check. (The offline queues are
// queueCollector's.)
type nodeCollector struct {
	maxConns int
	checker  *health.Checker
}

var (
	maxConnsDesc = prometheus.NewDesc(metrics.Namespace+"_max_connections",
		"The node's connection cap (limits.maxConnections).", nil, nil)
	brokerUpDesc = prometheus.NewDesc(metrics.Namespace+"_broker_up",
		"1 if the broker answered the node's last check (always 1 in memory), 0 if not.", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- maxConnsDesc
	ch <- brokerUpDesc
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(maxConnsDesc, prometheus.GaugeValue, float64(c.maxConns))
	up := 1.0
	if !c.checker.BrokerUp() {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(brokerUpDesc, prometheus.GaugeValue, up)
}
