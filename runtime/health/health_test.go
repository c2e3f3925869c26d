package health

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type flakyBroker struct{ down atomic.Bool }

func (f *flakyBroker) Ping(context.Context) error {
	if f.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func TestReadinessRidesOutBrokerLossWithinGrace(t *testing.T) {
	b := &flakyBroker{}
	c := New(Config{Broker: b, BrokerGrace: 200 * time.Millisecond})
	ctx := context.Background()
	if r := c.Ready(ctx); !r.Ready {
		t.Fatalf("not ready with the broker up: %v", r.Reasons)
	}
	b.down.Store(true)
	if r := c.Ready(ctx); !r.Ready {
		t.Fatalf("not ready at once after the broker went down: %v", r.Reasons)
	}
	if d := c.Detail(ctx); d.Status != "degraded" || d.Broker.Status != "down" {
		t.Fatalf("detail while down: %+v", d)
	}
	time.Sleep(300 * time.Millisecond)
	r := c.Ready(ctx)
	if r.Ready || len(r.Reasons) != 1 || r.Reasons[0] != ReasonBrokerDown {
		t.Fatalf("after the grace: %+v", r)
	}
	if ok, _ := c.Live(); !ok {
		t.Fatal("liveness followed the broker")
	}
	b.down.Store(false)
	if r := c.Ready(ctx); !r.Ready {
		t.Fatalf("not ready after the broker came back: %v", r.Reasons)
	}
}

func TestReadinessFollowsDrainAndCapacity(t *testing.T) {
	open := 0
	c := New(Config{Connections: func() (int, int) { return open, 2 }})
	ctx := context.Background()
	if !c.Ready(ctx).Ready {
		t.Fatal("empty node not ready")
	}
	open = 2
	if r := c.Ready(ctx); r.Ready || r.Reasons[0] != ReasonAtCapacity {
		t.Fatalf("full node: %+v", r)
	}
	open = 0
	c.SetDraining()
	if r := c.Ready(ctx); r.Ready || r.Reasons[0] != ReasonDraining {
		t.Fatalf("draining node: %+v", r)
	}
	if d := c.Detail(ctx); d.Status != "draining" || !d.Draining {
		t.Fatalf("detail: %+v", d)
	}
}

func TestLivenessNeedsBeats(t *testing.T) {
	c := New(Config{LiveWithin: 100 * time.Millisecond})
	if ok, _ := c.Live(); !ok {
		t.Fatal("not live right after New")
	}
	time.Sleep(150 * time.Millisecond)
	if ok, _ := c.Live(); ok {
		t.Fatal("live without beats")
	}
	c.Beat()
	if ok, _ := c.Live(); !ok {
		t.Fatal("not live after a beat")
	}
}
