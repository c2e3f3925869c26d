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
	// The history API pages what Since and Recent return (hub.History):
	// they must return every live entry, in order, however many.
	t.Run("since returns every later entry, in order, past a page", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:5", 250, 1000, time.Hour)
		got, ok, err := s.Since(ctx, "news:5", "h9", time.Hour)
		if err != nil || !ok || len(got) != 240 {
			t.Fatalf("since h9 of 250: %d entries, recovered %v, %v", len(got), ok, err)
		}
		for i, m := range got {
			if want := fmt.Sprintf("h%d", i+10); m.ID != want {
				t.Fatalf("entry %d is %s, want %s", i, m.ID, want)
			}
		}
		// Paging as a client does: 100 at a time, each page from the last
		// id of the one before, until a page comes back short.
		var walked []string
		for last := "h0"; ; {
			page, ok, err := s.Since(ctx, "news:5", last, time.Hour)
			if err != nil || !ok {
				t.Fatalf("since %s: recovered %v, %v", last, ok, err)
			}
			page = page[:min(len(page), 100)]
			for _, m := range page {
				walked = append(walked, m.ID)
			}
			if len(page) < 100 {
				break
			}
			last = page[len(page)-1].ID
		}
		if len(walked) != 249 || walked[0] != "h1" || walked[248] != "h249" {
			t.Fatalf("paging walked %d entries, %s to %s; want h1 to h249", len(walked), walked[0], walked[len(walked)-1])
		}
	})
	t.Run("recent keeps the newest entries a size allows", func(t *testing.T) {
		s := newStore(t)
		appendN(t, s, "news:6", 250, 200, time.Hour)
		got, err := s.Recent(ctx, "news:6", time.Hour)
		if err != nil || len(got) != 200 || got[0].ID != "h50" || got[199].ID != "h249" {
			t.Fatalf("recent of 250 kept at 200: %d entries (%v), want h50 to h249", len(got), err)
		}
	})
	t.Run("entries keep every stored field", func(t *testing.T) {
		s := newStore(t)
		m := message.New("say", []byte(`{"text":"hi","n":[1,2]}`), message.PriorityHigh)
		m.ID, m.Channel, m.Publisher = "p1", "chat:1", "alice"
		if err := s.Append(ctx, "chat:1", m, 10, time.Hour); err != nil {
			t.Fatal(err)
		}
		recent, err := s.Recent(ctx, "chat:1", time.Hour)
		if err != nil || len(recent) != 1 {
			t.Fatalf("recent: %d entries, %v", len(recent), err)
		}
		got := recent[0]
		if got.ID != "p1" || got.Type != "say" || string(got.Payload) != `{"text":"hi","n":[1,2]}` || got.Priority != message.PriorityHigh ||
			got.Timestamp != m.Timestamp || got.Channel != "chat:1" || got.Publisher != "alice" {
			t.Fatalf("stored %+v, read back %+v", m, got)
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
