package operator

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	pmodel "github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	prom "sigs.k8s.io/prometheus-adapter/pkg/client"
	adapterconfig "sigs.k8s.io/prometheus-adapter/pkg/config"
	"sigs.k8s.io/prometheus-adapter/pkg/naming"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestPrometheusAdapterRule checks the rule the prometheus provider needs,
// as docs/autoscaling.md and the chart's values ship it: both are the same
// rule; prometheus-adapter's own configuration loader takes it (strictly:
// an unknown field fails); and its namer, given a runtime pod's series as
// Prometheus reports it, names the metric and the pods the HPA asks for,
// and builds the query the adapter would send.
func TestPrometheusAdapterRule(t *testing.T) {
	docs, err := os.ReadFile("../../docs/autoscaling.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(rules:\n.*?)```").FindSubmatch(docs)
	if m == nil {
		t.Fatal("docs/autoscaling.md has no ```yaml block starting with rules:")
	}
	fromDocs := parseAdapterRules(t, "docs/autoscaling.md", m[1])

	values, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Rules any `json:"prometheusAdapterRules"`
	}
	if err := sigsyaml.Unmarshal(values, &v); err != nil || v.Rules == nil {
		t.Fatalf("the chart's values have no prometheusAdapterRules: %v", err)
	}
	rules, err := sigsyaml.Marshal(map[string]any{"rules": v.Rules})
	if err != nil {
		t.Fatal(err)
	}
	fromChart := parseAdapterRules(t, "the chart's prometheusAdapterRules", rules)
	if !reflect.DeepEqual(fromDocs, fromChart) {
		t.Errorf("the docs' rule and the chart's differ:\n%+v\n%+v", fromDocs.Rules, fromChart.Rules)
	}

	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	namers, err := naming.NamersFromConfig(fromDocs.Rules, mapper)
	if err != nil {
		t.Fatalf("prometheus-adapter refuses the rule: %v", err)
	}
	if len(namers) != 1 {
		t.Fatalf("%d namers, want 1", len(namers))
	}
	n := namers[0]
	// A series as Prometheus keeps the runtime's gauge, scraped through a
	// ServiceMonitor or pod annotations.
	series := prom.Series{Name: "realtime_active_connections", Labels: pmodel.LabelSet{
		"namespace": "apps", "pod": "chat-7d9f-abcde", "job": "chat", "instance": "10.0.0.7:8080"}}
	if kept := n.FilterSeries([]prom.Series{series}); len(kept) != 1 {
		t.Errorf("the rule filters out the runtime's series")
	}
	name, err := n.MetricNameForSeries(series)
	if err != nil || name != "realtime_active_connections" {
		t.Errorf("metric name %q (%v), want realtime_active_connections, the HPA's", name, err)
	}
	resources, namespaced := n.ResourcesForSeries(series)
	t.Logf("series %s: metric %q for %v (namespaced %v)", n.Selector(), name, resources, namespaced)
	if !namespaced || !containsResource(resources, "pods") {
		t.Errorf("resources %v, namespaced %v: want pods, namespaced", resources, namespaced)
	}
	q, err := n.QueryForSeries(series.Name, schema.GroupResource{Resource: "pods"}, "apps", labels.Everything(), "chat-7d9f-abcde", "chat-7d9f-fghij")
	if err != nil {
		t.Fatalf("building the query: %v", err)
	}
	t.Logf("query for two pods: %s", q)
	for _, want := range []string{"sum(realtime_active_connections{", `namespace="apps"`, `pod=~"chat-7d9f-abcde|chat-7d9f-fghij"`, ") by (pod)"} {
		if !strings.Contains(string(q), want) {
			t.Errorf("the query %s lacks %s", q, want)
		}
	}
}

func parseAdapterRules(t *testing.T, where string, y []byte) *adapterconfig.MetricsDiscoveryConfig {
	t.Helper()
	cfg, err := adapterconfig.FromYAML(y)
	if err != nil {
		t.Fatalf("%s: prometheus-adapter's loader refuses the rule: %v", where, err)
	}
	if len(cfg.Rules) != 1 {
		t.Fatalf("%s: %d rules, want 1", where, len(cfg.Rules))
	}
	return cfg
}

func containsResource(rs []schema.GroupResource, resource string) bool {
	for _, r := range rs {
		if r.Resource == resource {
			return true
		}
	}
	return false
}
