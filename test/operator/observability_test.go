package operator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/runtimeproc"
)

// The chart's alerts and dashboard query only metrics that a running
// runtime and a running operator export: the names come from a scrape of
// each, not from a list kept by hand. Every expression parses with
// Prometheus's own PromQL parser.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	for name := range scrapeRuntime(t) {
		exported[name] = true
	}
	for name := range scrapeOperator(t) {
		exported[name] = true
	}
	p := parser.NewParser(parser.Options{})
	check := func(where, expr string) {
		t.Helper()
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", where, expr, err)
			return
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !exported[name] && !exported[base] {
				t.Errorf("%s: %q queries %s, which neither the runtime nor the operator exports", where, expr, name)
			}
			return nil
		})
	}

	// The alerts, as the chart renders them.
	rendered, err := exec.Command(helmBinary(t), "template", "fw", chartDir, "--namespace", "fleetwire-system",
		"--kube-version", "1.37.2", "--set", "prometheusRule.enabled=true").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	alerts := 0
	for _, o := range decodeAll(t, rendered) {
		if o.GetKind() != "PrometheusRule" {
			continue
		}
		groups, _ := o.Object["spec"].(map[string]any)["groups"].([]any)
		for _, g := range groups {
			for _, r := range g.(map[string]any)["rules"].([]any) {
				rule := r.(map[string]any)
				alerts++
				check("alert "+rule["alert"].(string), rule["expr"].(string))
				ann, _ := rule["annotations"].(map[string]any)
				if url, _ := ann["runbook_url"].(string); !strings.HasSuffix(url, "#"+strings.ToLower(rule["alert"].(string))) {
					t.Errorf("alert %s: runbook_url %q does not point at its runbook", rule["alert"], url)
				}
			}
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerts rendered, want the 8 of docs/operations.md", alerts)
	}
	runbooks, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`alert: (\w+)`).FindAllStringSubmatch(string(rendered), -1) {
		if !strings.Contains(string(runbooks), "### "+m[1]) {
			t.Errorf("docs/operations.md has no runbook headed ### %s", m[1])
		}
	}

	// The dashboard: every panel's every query, with Grafana's variables
	// filled in as Grafana would.
	b, err := os.ReadFile(chartDir + "/files/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$namespace", ".*", "${datasource}", "prom")
	queries, rows := 0, 0
	for _, panel := range dash.Panels {
		if panel.Type == "row" {
			rows++
			continue
		}
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			queries++
			check("panel "+panel.Title, vars.Replace(target.Expr))
		}
	}
	t.Logf("%d alerts; dashboard %q: %d rows, %d queries; %d metric names exported", alerts, dash.Title, rows, queries, len(exported))
	if rows < 10 {
		t.Errorf("the dashboard has %d rows, want one per concern (10)", rows)
	}
}

// scrapeRuntime runs a runtime, gives it some traffic so that its
// labelled series exist, and returns the metric names it exports.
func scrapeRuntime(t *testing.T) map[string]bool {
	t.Helper()
	secret := []byte("observability-secret-0123456789abcdef0123")
	p := runtimeproc.Start(t, secret)
	tok, err := auth.SignHS256(secret, auth.TokenRequest{UserID: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.Addr+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"subscribe","id":1,"data":{"channels":["news:1"]}}`))
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"ping","id":2}`))
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 3 { // connected, and the two acks
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	svc, _ := auth.SignHS256(secret, auth.TokenRequest{UserID: "svc", Roles: []string{auth.RoleService}, TTL: time.Hour})
	for _, path := range []string{"/ws/send/alice", "/ws/send/bob", "/ws/publish"} {
		body := `{"type":"notice","channel":"news:1"}`
		req, _ := http.NewRequest("POST", "http://"+p.Addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+svc)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	ws.Close()
	// A refused attempt, for the rejection counters.
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+p.Addr+"/ws", nil); err == nil || resp == nil {
		t.Fatal("an upgrade without a token was not refused")
	}
	time.Sleep(200 * time.Millisecond)
	return scrapeNames(t, "http://"+p.Addr+"/metrics")
}

// scrapeOperator runs the operator with plain-HTTP metrics and one
// autoscaled RealtimeService, and returns the metric names it exports
// once it has reconciled it.
func scrapeOperator(t *testing.T) map[string]bool {
	t.Helper()
	c := startCluster(t)
	op := c.startOperator(t, "--metrics-secure=false")
	c.applyAutoscalingChat(t, "{minReplicas: 1, maxReplicas: 3}")
	var names map[string]bool
	waitFor(t, "the operator to export chat's status", func() bool {
		names = scrapeNames(t, "http://"+op.metrics+"/metrics")
		return names["fleetwire_realtimeservice_condition"] && names["fleetwire_realtimeservice_target_connections_per_pod"]
	})
	return names
}

func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("parsing %s: %v", url, err)
	}
	out := map[string]bool{}
	var list []string
	for name := range fams {
		out[name] = true
		list = append(list, name)
	}
	sort.Strings(list)
	if len(list) == 0 {
		t.Fatalf("%s exported nothing", url)
	}
	return out
}
