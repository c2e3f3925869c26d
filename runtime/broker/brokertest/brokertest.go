// Package brokertest is the conformance suite every broker.Broker
// implementation must pass, against one node. Multi-node behaviour is
// covered by the Redis broker's own tests.
package brokertest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// Factory returns a fresh broker that is not yet started.
type Factory func(t *testing.T) broker.Broker

type recorder struct {
	mu  sync.Mutex
	got []string // topic + " " + message id
}

func (r *recorder) handle(topic string, m *message.Message) {
	r.mu.Lock()
	r.got = append(r.got, topic+" "+m.ID)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// waitFor polls until the recorder holds want entries; networked brokers
// deliver asynchronously.
func (r *recorder) waitFor(t *testing.T, want int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.snapshot()
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run runs every conformance case.
func Run(t *testing.T, newBroker Factory) {
	ctx := context.Background()
	start := func(t *testing.T) (broker.Broker, *recorder) {
		b := newBroker(t)
		r := &recorder{}
		if err := b.Start(r.handle); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, r
	}
	t.Run("delivers only subscribed topics, in order per topic", func(t *testing.T) {
		b, r := start(t)
		if err := b.Subscribe(ctx, "c:a", "u:alice"); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct{ topic, id string }{{"c:a", "1"}, {"c:b", "2"}, {"u:alice", "3"}, {"c:a", "4"}} {
			m := message.New("t", nil, message.PriorityNormal)
			m.ID = p.id
			n, err := b.Publish(ctx, p.topic, m)
			if err != nil {
				t.Fatal(err)
			}
			if want := p.topic != "c:b"; (n > 0) != want {
				t.Fatalf("publish to %s reached %d subscribers", p.topic, n)
			}
		}
		got := r.waitFor(t, 3)
		// Order is promised per topic: on a cluster, topics on different
		// shards arrive over different connections.
		var ca, ualice []string
		for _, g := range got {
			switch {
			case strings.HasPrefix(g, "c:a "):
				ca = append(ca, g)
			case strings.HasPrefix(g, "u:alice "):
				ualice = append(ualice, g)
			default:
				t.Fatalf("received an unsubscribed topic: %s", g)
			}
		}
		if len(got) != 3 || strings.Join(ca, ",") != "c:a 1,c:a 4" || strings.Join(ualice, ",") != "u:alice 3" {
			t.Fatalf("received %v", got)
		}
	})
	t.Run("unsubscribe stops delivery", func(t *testing.T) {
		b, r := start(t)
		_ = b.Subscribe(ctx, "c:x")
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := b.Publish(ctx, "c:x", message.New("t", nil, message.PriorityNormal)); err != nil || n != 1 {
			t.Fatalf("publish while subscribed: n=%d err=%v", n, err)
		}
		if got := r.waitFor(t, 1); len(got) != 1 {
			t.Fatalf("received %v while subscribed", got)
		}
		_ = b.Unsubscribe(ctx, "c:x")
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := b.Publish(ctx, "c:x", message.New("t", nil, message.PriorityNormal))
		if err != nil || n != 0 {
			t.Fatalf("publish after unsubscribe: n=%d err=%v", n, err)
		}
		time.Sleep(200 * time.Millisecond) // a networked broker delivers asynchronously
		if got := r.snapshot(); len(got) != 1 {
			t.Fatalf("received %v after unsubscribing", got)
		}
	})
	t.Run("start twice fails", func(t *testing.T) {
		b, _ := start(t)
		if err := b.Start(func(string, *message.Message) {}); err == nil {
			t.Fatal("second Start succeeded")
		}
	})
	t.Run("close is idempotent and stops publishing", func(t *testing.T) {
		b, _ := start(t)
		if err := b.Ping(ctx); err != nil {
			t.Fatalf("ping of a running broker: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := b.Publish(ctx, "c:a", message.New("t", nil, message.PriorityNormal)); err == nil {
			t.Fatal("publish after close succeeded")
		}
		if err := b.Ping(ctx); err == nil {
			t.Fatal("ping after close succeeded")
		}
	})
}
