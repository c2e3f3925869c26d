package main

import (
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got > tc.want || got < tc.want*94/100 {
			t.Errorf("quantile(%g) = %s, want within 6%% below %s", tc.q, got, tc.want)
		}
	}
	if h.count() != 1000 {
		t.Errorf("count %d", h.count())
	}
	var empty hist
	if empty.quantile(0.99) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}
