// Package fleettest is the conformance suite every fleet.Registry
// implementation must pass.
package fleettest

import (
	"context"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/fleet"
)

// Factory returns a fresh, empty Registry.
type Factory func(t *testing.T) fleet.Registry

// Run runs every conformance case.
func Run(t *testing.T, newRegistry Factory) {
	ctx := context.Background()
	names := func(nodes []fleet.Node) map[string]fleet.Node {
		m := map[string]fleet.Node{}
		for _, n := range nodes {
			m[n.Name] = n
		}
		return m
	}
	t.Run("a node written is listed with its values and series", func(t *testing.T) {
		r := newRegistry(t)
		n := fleet.Node{Name: "a:8080", Address: "10.0.0.1:8080", Connections: 3, Ready: true, UpdatedAt: time.Now(),
			Series: []fleet.Sample{{At: 100, Connections: 3, Out: 1.5}}}
		if err := r.Put(ctx, n); err != nil {
			t.Fatal(err)
		}
		got, err := r.List(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := names(got)["a:8080"]
		if len(got) != 1 || !ok || a.Address != n.Address || a.Connections != 3 || !a.Ready || len(a.Series) != 1 || a.Series[0].Out != 1.5 {
			t.Fatalf("List = %+v", got)
		}
	})
	t.Run("a newer write replaces the node's entry", func(t *testing.T) {
		r := newRegistry(t)
		for _, c := range []int{1, 7} {
			if err := r.Put(ctx, fleet.Node{Name: "a", Connections: c, UpdatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := r.List(ctx, time.Minute)
		if len(got) != 1 || got[0].Connections != 7 {
			t.Fatalf("List = %+v, want one node with 7 connections", got)
		}
	})
	t.Run("stale nodes are left out and removed ones are gone", func(t *testing.T) {
		r := newRegistry(t)
		now := time.Now()
		for _, n := range []fleet.Node{{Name: "live", UpdatedAt: now}, {Name: "stale", UpdatedAt: now.Add(-time.Hour)}, {Name: "leaving", UpdatedAt: now}} {
			if err := r.Put(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Remove(ctx, "leaving"); err != nil {
			t.Fatal(err)
		}
		got, err := r.List(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if m := names(got); len(m) != 1 || m["live"].Name != "live" {
			t.Fatalf("List = %+v, want only the live node", got)
		}
	})
}
