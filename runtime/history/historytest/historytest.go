// Package historytest is the conformance suite every history.Store
// implementation must pass.
package historytest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// Factory returns an empty Store.
type Factory func(t *testing.T) history.Store

func ids(ms []*message.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return strings.Join(s, ",")
}

// Run runs every conformance case.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	appendN := func(t *testing.T, s history.Store, ch string, n, size int, ttl time.Duration) {
		for i := range n {
			m := message.New("t", nil, message.PriorityNormal)
			m.ID, m.Channel = fmt.Sprintf("h%d", i), ch
			if err := s.Append(ctx, ch, m, size, ttl); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("recovers what came after the last seen id", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:1", 5, 3, time.Hour)
		got, ok, err := s.Since(ctx, "news:1", "h2", time.Hour)
		if err != nil || !ok || ids(got) != "h3,h4" {
			t.Fatalf("since h2: %s %v %v", ids(got), ok, err)
		}
		if got, ok, _ := s.Since(ctx, "news:1", "h4", time.Hour); !ok || len(got) != 0 {
			t.Fatalf("since the newest: %s %v", ids(got), ok)
		}
		if got[0].Channel != "news:1" {
			t.Fatalf("channel lost: %+v", got[0])
		}
	})
	t.Run("a gap larger than the history is not recovered", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:2", 5, 3, time.Hour)
		if _, ok, _ := s.Since(ctx, "news:2", "h1", time.Hour); ok {
			t.Fatal("h1 was trimmed but reported recovered")
		}
		if _, ok, _ := s.Since(ctx, "news:2", "never", time.Hour); ok {
			t.Fatal("unknown id reported recovered")
		}
		if _, ok, _ := s.Since(ctx, "empty:1", "h1", time.Hour); ok {
			t.Fatal("empty history reported recovered")
		}
	})
	t.Run("entries expire", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:3", 2, 10, 200*time.Millisecond)
		time.Sleep(300 * time.Millisecond)
		if _, ok, _ := s.Since(ctx, "news:3", "h0", 200*time.Millisecond); ok {
			t.Fatal("expired entry reported recovered")
		}
	})
	t.Run("recent is every live entry, oldest first", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:4", 5, 3, time.Hour)
		if got, err := s.Recent(ctx, "news:4", time.Hour); err != nil || ids(got) != "h2,h3,h4" {
			t.Fatalf("recent: %s %v", ids(got), err)
		}
		if got, err := s.Recent(ctx, "empty:2", time.Hour); err != nil || len(got) != 0 {
			t.Fatalf("recent of an empty history: %s %v", ids(got), err)
		}
	})
	t.Run("channels are separate", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "a:1", 2, 10, time.Hour)
		if _, ok, _ := s.Since(ctx, "b:1", "h0", time.Hour); ok {
			t.Fatal("another channel's id recovered")
		}
	})
}
