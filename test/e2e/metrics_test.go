package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// scrape parses /metrics into families by name.
func scrape(t *testing.T, n *node) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no %s sample with labels %v", name, want)
	return 0
}

func TestMetricsAfterAScriptedSession(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxConnections = 1234 })
	alice := dial(t, n, userToken(t, "alice"))
	bob := dial(t, n, userToken(t, "bob"))
	alice.subscribe("news:1", "news:2")
	for range 3 {
		bob.request("ping", nil)
	}
	mustStatus(t, n.send(t, "alice", "notification", nil), 200)
	alice.expectMessage("notification")
	mustStatus(t, n.send(t, "carol", "notification", nil), 200) // queued
	mustStatus(t, call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "news:1", "type": "headline"}), 200)
	alice.expectMessage("headline")
	expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + token(t, auth.TokenRequest{UserID: "x"}) + "x"}}, 401, "token_signature_invalid")
	bob.ws.Close()
	eventually(t, "bob to leave", func() bool { return n.srv.Hub().Connections() == 1 })

	fams := scrape(t, n)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"realtime_active_connections", nil, 1},
		{"realtime_connections_opened_total", nil, 2},
		{"realtime_connections_closed_total", map[string]string{"reason": "client"}, 1},
		{"realtime_connection_attempts_rejected_total", map[string]string{"reason": "auth"}, 1},
		{"realtime_auth_failures_total", map[string]string{"reason": "token_signature_invalid"}, 1},
		{"realtime_messages_received_total", map[string]string{"event": "ping"}, 3},
		{"realtime_messages_received_total", map[string]string{"event": "subscribe"}, 1},
		{"realtime_messages_sent_total", map[string]string{"type": "notification"}, 1},
		{"realtime_messages_sent_total", map[string]string{"type": "headline"}, 1},
		{"realtime_messages_queued_total", nil, 1},
		{"realtime_queue_waiting", nil, 1},
		{"realtime_queue_users", nil, 1},
		{"realtime_subscriptions", nil, 2},
		{"realtime_channels", nil, 2},
		{"realtime_delivery_latency_seconds", nil, 2},
		{"realtime_rate_limit_decisions_total", map[string]string{"rule": "messages", "outcome": "allowed"}, 4},
		{"realtime_rate_limit_decisions_total", map[string]string{"rule": "event", "outcome": "allowed"}, 1},
		{"realtime_rate_limit_decisions_total", map[string]string{"rule": "connections_per_ip", "outcome": "allowed"}, 3},
		{"realtime_http_requests_total", map[string]string{"route": "POST /ws/send/{userId}", "code": "200"}, 2},
		{"realtime_max_connections", nil, 1234},
		{"realtime_broker_up", nil, 1},
		{"fleetwire_build_info", map[string]string{"version": "dev"}, 1},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := value(t, fams, "realtime_queue_oldest_age_seconds", nil); age <= 0 || age > 60 {
		t.Errorf("realtime_queue_oldest_age_seconds = %v with carol's message queued a moment ago", age)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}

	// The JSON views agree with the Prometheus text.
	g := call(t, "GET", n.base+"/metrics/gauge/active_connections", "", nil)
	mustStatus(t, g, 200)
	if v := g.Body["samples"].([]any)[0].(map[string]any)["value"].(float64); v != 1 {
		t.Errorf("gauge JSON active_connections = %v", v)
	}
	c := call(t, "GET", n.base+"/metrics/counter/realtime_connections_opened_total", "", nil)
	if v := c.Body["samples"].([]any)[0].(map[string]any)["value"].(float64); v != 2 {
		t.Errorf("counter JSON connections_opened_total = %v", v)
	}
	h := call(t, "GET", n.base+"/metrics/histogram/delivery_latency_seconds", "", nil)
	hs := h.Body["samples"].([]any)[0].(map[string]any)
	if hs["count"].(float64) != 2 || hs["p50"] == nil || hs["p99"] == nil || hs["sum"] == nil {
		t.Errorf("histogram JSON %v", hs)
	}
	if r := call(t, "GET", n.base+"/metrics/counter/active_connections", "", nil); r.Status != 404 || r.errorCode() != "not_found" {
		t.Errorf("a gauge asked for as a counter: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", n.base+"/metrics/gauge/nope", "", nil); r.Status != 404 {
		t.Errorf("unknown gauge: %d", r.Status)
	}
	snap := call(t, "GET", n.base+"/metrics/snapshot", "", nil)
	mustStatus(t, snap, 200)
	found := false
	for _, f := range snap.Body["metrics"].([]any) {
		if f.(map[string]any)["name"] == "realtime_messages_queued_total" {
			found = true
		}
	}
	if !found {
		t.Error("snapshot lacks realtime_messages_queued_total")
	}
	prom, err := http.Get(n.base + "/metrics/prometheus")
	if err != nil || prom.StatusCode != 200 {
		t.Fatalf("/metrics/prometheus: %v", err)
	}
	prom.Body.Close()
}
