package metrics

import (
	"fmt"
	"testing"
)

func TestQuantileEstimates(t *testing.T) {
	m := New()
	// 100 observations spread evenly over (0, 1]: the estimates should
	// land near the true quantiles, within one bucket's width.
	for i := 1; i <= 100; i++ {
		m.DeliveryLatency.Observe(float64(i) / 100)
	}
	f, err := m.Find("realtime_delivery_latency_seconds", KindHistogram)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Samples[0]
	if *s.Count != 100 {
		t.Fatalf("count %d", *s.Count)
	}
	for _, c := range []struct {
		got      *float64
		lo, hi   float64
		quantile string
	}{{s.P50, 0.25, 0.5, "p50"}, {s.P90, 0.5, 1, "p90"}, {s.P99, 0.5, 1, "p99"}} {
		if c.got == nil || *c.got < c.lo || *c.got > c.hi {
			t.Errorf("%s = %v, want within [%v, %v]", c.quantile, c.got, c.lo, c.hi)
		}
	}
}

func TestEmptyHistogramHasNoQuantiles(t *testing.T) {
	f, err := New().Find("realtime_delivery_latency_seconds", KindHistogram)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Samples[0]; s.P50 != nil || *s.Count != 0 {
		t.Fatalf("sample %+v", s)
	}
}

func TestTypeLabelIsBounded(t *testing.T) {
	m := New()
	for i := range maxTypeLabels {
		if got := m.TypeLabel(fmt.Sprintf("t%d", i)); got != fmt.Sprintf("t%d", i) {
			t.Fatalf("label %d = %s", i, got)
		}
	}
	if got := m.TypeLabel("one-too-many"); got != "other" {
		t.Fatalf("past the bound: %s", got)
	}
	if got := m.TypeLabel("t0"); got != "t0" {
		t.Fatalf("known type after the bound: %s", got)
	}
}
