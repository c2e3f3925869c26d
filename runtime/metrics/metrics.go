package metrics

import (
	"github.com/fleetwire/fleetwire/runtime/buildinfo"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every runtime metric. realtime_active_connections is
// the name the operator's autoscaler reads; never rename it.
const Namespace = "realtime"

// Metrics holds one node's collectors and the registry they live in.
type Metrics struct {
	Registry *prometheus.Registry

	ActiveConnections   prometheus.Gauge
	ConnectionsOpened   prometheus.Counter
	ConnectionsClosed   *prometheus.CounterVec // reason
	ConnectionsRejected *prometheus.CounterVec // reason
	MessagesReceived    *prometheus.CounterVec // event
	MessagesSent        *prometheus.CounterVec // type
	MessagesQueued      prometheus.Counter
	DeliveryLatency     prometheus.Histogram
	Subscriptions       prometheus.Gauge
	Channels            prometheus.Gauge
	RateLimitDecisions  *prometheus.CounterVec // rule, outcome
	SlowConsumers       prometheus.Counter
	AuthFailures        *prometheus.CounterVec // reason
	HTTPRequests        *prometheus.CounterVec // route, code
	HTTPDuration        *prometheus.HistogramVec
	RPCCalls            *prometheus.CounterVec // outcome
	BrokerReconnects    prometheus.Counter
	BrokerPublish       prometheus.Histogram
	BrokerLag           prometheus.Histogram
	BrokerUnrouted      prometheus.Counter
	GapFilled           prometheus.Counter
	Republished         prometheus.Counter
	RPCDuration         prometheus.Histogram

	types labelSet
}

// maxTypeLabels bounds the distinct message types used as label values:
// types are chosen by API callers, and unbounded labels would exhaust
// Prometheus. Types past the bound are counted as "other".
const maxTypeLabels = 100

// New returns a Metrics with every collector registered in a fresh
// registry, together with the Go and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := factory{r}
	m := &Metrics{
		Registry: r,
		ActiveConnections: f.gauge("active_connections",
			"WebSocket connections currently open on this node."),
		ConnectionsOpened: f.counter("connections_opened_total",
			"WebSocket connections accepted."),
		ConnectionsClosed: f.counterVec("connections_closed_total",
			"WebSocket connections closed, by reason.", "reason"),
		ConnectionsRejected: f.counterVec("connection_attempts_rejected_total",
			"Connection attempts refused before the upgrade, by reason.", "reason"),
		MessagesReceived: f.counterVec("messages_received_total",
			"Client frames received, by event.", "event"),
		MessagesSent: f.counterVec("messages_sent_total",
			"Application messages handed to connections, by type.", "type"),
		MessagesQueued: f.counter("messages_queued_total",
			"Messages stored in an offline queue."),
		DeliveryLatency: f.histogram("delivery_latency_seconds",
			"Time from the API accepting a message to its socket write.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}),
		Subscriptions: f.gauge("subscriptions",
			"Channel subscriptions held by connections on this node."),
		Channels: f.gauge("channels",
			"Channels with at least one subscriber on this node."),
		RateLimitDecisions: f.counterVec("rate_limit_decisions_total",
			"Rate-limit decisions, by rule and outcome (allowed, blocked).", "rule", "outcome"),
		SlowConsumers: f.counter("slow_consumer_disconnects_total",
			"Connections closed because their outbound queue overflowed."),
		AuthFailures: f.counterVec("auth_failures_total",
			"Token verifications that failed, by reason.", "reason"),
		HTTPRequests: f.counterVec("http_requests_total",
			"HTTP requests, by route and status code.", "route", "code"),
		HTTPDuration: f.histogramVec("http_request_duration_seconds",
			"HTTP request latency, by route.", prometheus.DefBuckets, "route"),
		RPCCalls: f.counterVec("rpc_calls_total",
			"Custom events forwarded to the backend, by outcome (ok or an rpc_* error code).", "outcome"),
		RPCDuration: f.histogram("rpc_duration_seconds",
			"Time the backend took to answer a forwarded event.", prometheus.DefBuckets),
		BrokerReconnects: f.counter("broker_reconnects_total",
			"Times the broker's subscription connection was re-established with every topic."),
		BrokerPublish: f.histogram("broker_publish_seconds",
			"Time to hand a publication to the broker.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}),
		BrokerLag: f.histogram("broker_lag_seconds",
			"Time from a publication to its arrival on this node through the broker.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}),
		BrokerUnrouted: f.counter("broker_unrouted_total",
			"Publications that reached this node with no local connection to take them."),
		GapFilled: f.counter("channel_gap_filled_total",
			"Channel publications this node missed while its broker subscription was down, delivered from history once it was back."),
		Republished: f.counter("republished_total",
			"Channel publications, broadcasts and messages to users this node accepted just before its broker broke and the store no longer held once it was back (Redis restarted empty), stored and published again."),
		types: labelSet{max: maxTypeLabels},
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	return m
}

// TypeLabel returns t, or "other" once maxTypeLabels distinct types have
// been seen.
func (m *Metrics) TypeLabel(t string) string { return m.types.label(t) }

type labelSet struct {
	mu   sync.RWMutex
	seen map[string]bool
	max  int
}

func (s *labelSet) label(v string) string {
	s.mu.RLock()
	ok := s.seen[v]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[v] || len(s.seen) < s.max {
		s.seen[v] = true
		return v
	}
	return "other"
}

type factory struct{ r *prometheus.Registry }

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.r.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.r.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.r.MustRegister(h)
	return h
}
