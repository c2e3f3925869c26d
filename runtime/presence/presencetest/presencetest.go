// Package presencetest is the conformance suite every presence.Presence
// implementation must pass.
package presencetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/presence"
)

// Factory returns a fresh, empty Presence.
type Factory func(t *testing.T) presence.Presence

// Run runs every conformance case.
func Run(t *testing.T, newPresence Factory) {
	ctx := context.Background()
	t.Run("first join and last leave are reported", func(t *testing.T) {
		p := newPresence(t)
		steps := []struct {
			join bool
			conn string
			edge bool
			want int
		}{
			{true, "c1", true, 1},
			{true, "c2", false, 2},
			{false, "c1", false, 1},
			{false, "c1", false, 1}, // leaving twice is not an edge
			{false, "c2", true, 0},
		}
		for i, s := range steps {
			var edge bool
			var err error
			if s.join {
				edge, err = p.Join(ctx, "alice", s.conn)
			} else {
				edge, err = p.Leave(ctx, "alice", s.conn)
			}
			if err != nil || edge != s.edge {
				t.Fatalf("step %d: edge=%v err=%v, want edge=%v", i, edge, err, s.edge)
			}
			info, err := p.Get(ctx, "alice")
			if err != nil || info.Connections != s.want || info.Online != (s.want > 0) {
				t.Fatalf("step %d: info %+v err %v, want %d connections", i, info, err, s.want)
			}
		}
	})
	t.Run("unknown user is offline", func(t *testing.T) {
		p := newPresence(t)
		if info, err := p.Get(ctx, "nobody"); err != nil || info.Online {
			t.Fatalf("info %+v err %v", info, err)
		}
		if last, err := p.Leave(ctx, "nobody", "c"); err != nil || last {
			t.Fatalf("leave of unknown user: last=%v err=%v", last, err)
		}
	})
	t.Run("concurrent joins report exactly one first", func(t *testing.T) {
		p := newPresence(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := p.Join(ctx, "bob", fmt.Sprintf("c%d", i))
				if err != nil {
					t.Error(err)
				}
				if first {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if info, _ := p.Get(ctx, "bob"); firsts != 1 || info.Connections != 50 {
			t.Fatalf("firsts=%d connections=%d", firsts, info.Connections)
		}
	})
}
