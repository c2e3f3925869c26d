package controllers

import (
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
	order := func(target int, until time.Duration) string {
		return fmt.Sprintf(`{"target":%d,"perSecond":5,"until":%q}`, target, now.Add(until).Format(time.RFC3339))
	}
	for _, tc := range []struct {
		current    string
		computed   int64
		wantTarget int64
		wantWrite  bool
	}{
		{"", 5, 5, true},
		{"not json", 5, 5, true},
		{order(5, 2*time.Minute), 5, 5, false},
		{order(5, 61*time.Second), 5, 5, false},
		{order(5, 59*time.Second), 5, 5, true}, // less than half left
		{order(6, 2*time.Minute), 5, 6, false}, // never lowered
		{order(4, 2*time.Minute), 5, 5, true},  // raised
		{order(9, -time.Minute), 5, 5, true},   // lapsed: counts for nothing
	} {
		target, write := nextOrder(tc.current, tc.computed, now)
		if target != tc.wantTarget || write != tc.wantWrite {
			t.Errorf("%q, computed %d: target %d write %v, want %d %v", tc.current, tc.computed, target, write, tc.wantTarget, tc.wantWrite)
		}
	}
}
