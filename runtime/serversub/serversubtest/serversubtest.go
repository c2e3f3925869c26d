// Package serversubtest is the conformance suite every serversub.Store
// implementation must pass.
package serversubtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/serversub"
)

// Factory returns an empty Store.
type Factory func(t *testing.T) serversub.Store

// Run runs every conformance case.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	list := func(t *testing.T, s serversub.Store, user string, want ...string) {
		t.Helper()
		got, err := s.List(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List(%s) = %q, want %q", user, got, want)
		}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("nothing for a new user", func(t *testing.T) {
		list(t, newStore(t), "nobody")
	})
	t.Run("added channels are listed, sorted, per user", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Add(ctx, "alice", []string{"b:1", "a:1"}, time.Hour))
		must(t, s.Add(ctx, "alice", []string{"c:1", "a:1"}, time.Hour))
		must(t, s.Add(ctx, "bob", []string{"z:1"}, time.Hour))
		list(t, s, "alice", "a:1", "b:1", "c:1")
		list(t, s, "bob", "z:1")
	})
	t.Run("removed channels are forgotten", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Add(ctx, "alice", []string{"a:1", "b:1"}, time.Hour))
		must(t, s.Remove(ctx, "alice", []string{"a:1", "never:1"}))
		list(t, s, "alice", "b:1")
		must(t, s.Remove(ctx, "alice", []string{"b:1"}))
		list(t, s, "alice")
		must(t, s.Remove(ctx, "nobody", []string{"x:1"}))
	})
	t.Run("channels expire on their own", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Add(ctx, "alice", []string{"short:1"}, 50*time.Millisecond))
		must(t, s.Add(ctx, "alice", []string{"long:1"}, time.Hour))
		list(t, s, "alice", "long:1", "short:1")
		time.Sleep(100 * time.Millisecond)
		list(t, s, "alice", "long:1")
	})
	t.Run("adding again extends the expiry", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Add(ctx, "alice", []string{"a:1"}, 50*time.Millisecond))
		must(t, s.Add(ctx, "alice", []string{"a:1"}, time.Hour))
		time.Sleep(100 * time.Millisecond)
		list(t, s, "alice", "a:1")
	})
}
