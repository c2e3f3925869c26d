package hub

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// watchedBroker is the memory broker with the breaks of a networked one,
// which the test makes happen.
type watchedBroker struct {
	*broker.Memory
	lost, restored func()
}

func (b *watchedBroker) Watch(lost, restored func()) { b.lost, b.restored = lost, restored }

// A node whose broker subscription broke delivers, once it is back, what
// was published meanwhile (found in the channel's history), then what it
// held, each once and in order.
func TestBrokerBreakIsFilledFromHistory(t *testing.T) {
	hist := history.NewMemory()
	b := &watchedBroker{Memory: broker.NewMemory()}
	h := newTestHub(t, Config{Broker: b, History: hist})
	ctx := context.Background()
	s, c := accept(t, h, "alice")
	s.HandleFrame(protocol.Frame{Event: "subscribe", Data: json.RawMessage(`{"channels":["doc:1"]}`)})

	remote := func(v string) *message.Message {
		m := message.New("doc_update", payload(v), message.PriorityNormal)
		m.Channel = "doc:1"
		return m
	}
	before := remote("before")
	if err := hist.Append(ctx, "doc:1", before, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.dispatch(topicChannelPrefix+"doc:1", before)

	b.lost()
	missed := remote("missed") // published elsewhere while this node heard nothing
	if err := hist.Append(ctx, "doc:1", missed, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(ctx, "doc:1", message.New("doc_update", payload("local"), message.PriorityNormal)); err != nil {
		t.Fatal(err) // this node's own publication: in the history, and held
	}
	after := remote("after") // came through the broker before the fill: held
	if err := hist.Append(ctx, "doc:1", after, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.dispatch(topicChannelPrefix+"doc:1", after)
	if got := countType(c.events(t), "doc_update"); got != 1 {
		t.Fatalf("%d publications delivered during the break, want only the one before it", got)
	}

	b.restored()
	evs := c.waitFor(t, "four publications", func(e []event) bool { return countType(e, "doc_update") >= 4 })
	var got []string
	for _, e := range evs {
		if e.Event == "doc_update" {
			var m message.Message
			_ = json.Unmarshal(e.Data, &m)
			got = append(got, string(m.Payload))
		}
	}
	want := []string{`{"v":"before"}`, `{"v":"missed"}`, `{"v":"local"}`, `{"v":"after"}`}
	if len(got) != len(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered %v, want %v", got, want)
		}
	}
}

func countType(evs []event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Event == typ {
			n++
		}
	}
	return n
}
