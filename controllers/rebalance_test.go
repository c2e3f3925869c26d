package controllers

import (
	"cmp"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestRebalanceTargets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts map[types.UID]int64
		margin int32
		want   map[types.UID]int64
	}{
		{"one pod", map[types.UID]int64{"a": 30}, 25, nil},
		// After a scale-up from 1 to 3: the average is 10, the line 13.
		{"after a scale-up", map[types.UID]int64{"a": 30, "b": 0, "c": 0}, 25, map[types.UID]int64{"a": 13}},
		{"within the margin", map[types.UID]int64{"a": 12, "b": 9, "c": 9}, 25, map[types.UID]int64{}},
		{"two hot pods", map[types.UID]int64{"a": 40, "b": 40, "c": 0, "d": 0}, 10, map[types.UID]int64{"a": 22, "b": 22}},
		{"an empty fleet", map[types.UID]int64{"a": 0, "b": 0}, 25, map[types.UID]int64{}},
	} {
		got := rebalanceTargets(tc.counts, tc.margin)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for uid, n := range tc.want {
			if got[uid] != n {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

func TestNextOrder(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	order := func(target, pods int, until time.Duration) string {
		return fmt.Sprintf(`{"target":%d,"perSecond":5,"until":%q,"pods":%d,"total":30}`, target, now.Add(until).Format(time.RFC3339), pods)
	}
	for _, tc := range []struct {
		current    string
		computed   int64
		pods       int
		wantTarget int64
		wantPods   int
		wantWrite  bool
		total      int64 // counted now; 30 when 0
	}{
		{"", 5, 3, 5, 3, true, 0},
		{"not json", 5, 3, 5, 3, true, 0},
		{order(5, 3, 2*time.Minute), 5, 3, 5, 3, false, 0},
		{order(5, 3, 61*time.Second), 5, 3, 5, 3, false, 0},
		{order(5, 3, 59*time.Second), 5, 3, 5, 3, true, 0}, // less than half left
		{order(6, 3, 2*time.Minute), 5, 3, 6, 3, false, 0}, // not lowered while clients move
		{order(6, 3, 2*time.Minute), 5, 2, 6, 3, false, 0}, // nor when fewer pods are counted
		{order(4, 3, 2*time.Minute), 5, 3, 5, 3, true, 0},  // raised
		{order(9, 3, -time.Minute), 5, 3, 5, 3, true, 0},   // lapsed: counts for nothing
		// Set when the third pod was not counted yet: lowered once it is.
		{order(19, 2, 2*time.Minute), 13, 3, 13, 3, true, 0},
		// The same, with two of the 30 clients between pods at the count
		// that first sees the third pod: 28 would draw the line at 12 and
		// move a client too many; the order's 30 draws it at 13 (a CI run
		// of TestRebalanceSpreadsConnectionsAfterScaleUp moved 18).
		{order(19, 2, 2*time.Minute), 12, 3, 13, 3, true, 28},
		// An order from before pods were recorded is lowered by any count.
		{`{"target":19,"perSecond":5,"until":"` + now.Add(time.Minute+time.Second).Format(time.RFC3339) + `"}`, 13, 3, 13, 3, true, 0},
	} {
		total := cmp.Or(tc.total, 30)
		got, write := nextOrder(tc.current, rebalanceOrder{Target: tc.computed, Pods: tc.pods, Total: total}, 25, now)
		if got.Target != tc.wantTarget || got.Pods != tc.wantPods || write != tc.wantWrite {
			t.Errorf("%q, computed %d of %d pods: target %d of %d pods, write %v; want %d of %d, %v",
				tc.current, tc.computed, tc.pods, got.Target, got.Pods, write, tc.wantTarget, tc.wantPods, tc.wantWrite)
		}
	}
}
