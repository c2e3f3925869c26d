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
// every session gets its messages in publication order, none twice, and
// those that left get nothing published after they left.
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
	h.fanoutBarrier(ctx, "doc:1") // everything handed to the worker is delivered
	for i, x := range subs {
		var got []int
		if i < 10 {
			got = seqs(x.c.waitFor(t, fmt.Sprintf("session %d's 100 messages", i), func(evs []event) bool { return len(seqs(evs)) >= 100 }))
		} else {
			got = seqs(x.c.events(t))
		}
		for j, v := range got {
			if v != j {
				t.Fatalf("session %d got %v: out of order or twice at %d", i, got, j)
			}
		}
		switch {
		case i < 10 && len(got) != 100:
			t.Fatalf("session %d got %d messages, want 100", i, len(got))
		case i >= 10 && len(got) > 50:
			// It may miss the end of what a worker still held when it left,
			// never get what was published after.
			t.Fatalf("session %d got %d messages after leaving at 50", i, len(got))
		}
	}
}
