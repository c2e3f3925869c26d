package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// TestFanoutKeepsEachChannelInOrder publishes 100 messages to a channel
// whose subscribers first outnumber inlineFanout, so the worker delivers,
// and then, once most have left, do not, so delivery is in place again:
// every session gets its messages in publication order, none twice.
func TestFanoutKeepsEachChannelInOrder(t *testing.T) {
	h := newTestHub(t, Config{})
	ctx := context.Background()
	type sub struct {
		s *Session
		c *fakeConn
	}
	var subs []sub
	for i := range inlineFanout + 8 {
		s, c := accept(t, h, fmt.Sprintf("u%d", i))
		if perr := s.subscribe("doc:1"); perr != nil {
			t.Fatal(perr)
		}
		subs = append(subs, sub{s, c})
	}
	publish := func(i int) {
		b, _ := json.Marshal(i)
		if _, err := h.Publish(ctx, "doc:1", message.New("seq", b, message.PriorityNormal)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		publish(i)
	}
	for _, x := range subs[10:] {
		x.s.unsubscribe("doc:1")
	}
	for i := 50; i < 100; i++ {
		publish(i)
	}
	seqs := func(evs []event) []int {
		var out []int
		for _, e := range evs {
			if e.Event != "seq" {
				continue
			}
			var m struct{ Payload int }
			_ = json.Unmarshal(e.Data, &m)
			out = append(out, m.Payload)
		}
		return out
	}
	for i, x := range subs {
		want := 100
		if i >= 10 {
			want = 50 // left after the first 50
		}
		got := seqs(x.c.waitFor(t, fmt.Sprintf("session %d's %d messages", i, want), func(evs []event) bool { return len(seqs(evs)) >= want }))
		for j, v := range got {
			if v != j {
				t.Fatalf("session %d got %v: out of order or twice at %d", i, got, j)
			}
		}
		if len(got) != want {
			t.Fatalf("session %d got %d messages, want %d", i, len(got), want)
		}
	}
}
