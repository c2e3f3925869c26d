package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// testNode is a node whose counters and connections the test moves.
type testNode struct {
	name  string
	conns int
	c     Counters
}

func (n *testNode) fleet(reg Registry, interval, window time.Duration) *Fleet {
	f := New(Config{Registry: reg, Interval: interval, Window: window,
		Self:     func() Node { return Node{Connections: n.conns, Users: n.conns} },
		Ready:    func() bool { return true },
		Counters: func() Counters { return n.c }})
	f.SetIdentity(n.name, n.name+":8080")
	return f
}

func TestRingIsBoundedAndRatesArePerSecond(t *testing.T) {
	n := &testNode{name: "a"}
	f := n.fleet(NewMemory(), time.Second, 3*time.Second)
	start := time.Unix(1000, 0)
	f.last, f.lastAt = n.c, start
	for i := 1; i <= 5; i++ {
		n.c.Received += 10
		n.c.Sent += 20
		n.c.Blocked++
		n.conns = i
		f.sample(start.Add(time.Duration(i) * time.Second))
	}
	s := f.Series()
	if len(s) != 3 {
		t.Fatalf("the ring holds %d samples, want 3 (window/interval)", len(s))
	}
	if s[0].At != 1002 || s[2].At != 1004 || s[2].Connections != 5 {
		t.Fatalf("the ring keeps the newest samples in order: %+v", s)
	}
	if s[2].In != 10 || s[2].Out != 20 || s[2].Blocked != 1 {
		t.Fatalf("rates per second and counts per interval: %+v", s[2])
	}
}

func TestOverviewSumsTheNodesIntervalByInterval(t *testing.T) {
	reg := NewMemory()
	a, b := &testNode{name: "a", conns: 2}, &testNode{name: "b", conns: 3}
	fa, fb := a.fleet(reg, 5*time.Second, 0), b.fleet(reg, 5*time.Second, 0)
	now := time.Now().Truncate(5 * time.Second)
	for _, x := range []struct {
		f *Fleet
		n *testNode
	}{{fa, a}, {fb, b}} {
		x.f.last, x.f.lastAt = x.n.c, now.Add(-5*time.Second)
		x.n.c.Sent += 50
		x.n.c.Slow++
		x.f.sample(now)
	}
	fb.put(context.Background())
	// A node that stopped writing long ago is left out.
	if err := reg.Put(context.Background(), Node{Name: "gone", Connections: 100, UpdatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	o := fa.Overview(context.Background())
	if o.Totals.Nodes != 2 || o.Totals.Connections != 5 || o.Totals.MessagesOut != 20 {
		t.Fatalf("totals %+v, want 2 nodes, 5 connections, 20 messages out per second", o.Totals)
	}
	if len(o.Series) != 1 || o.Series[0].Connections != 5 || o.Series[0].Out != 20 {
		t.Fatalf("series %+v, want one interval summing both nodes", o.Series)
	}
	if o.Recent.SlowConsumerCloses != 2 {
		t.Fatalf("recent %+v, want 2 slow-consumer closes", o.Recent)
	}
	for _, n := range o.Nodes {
		if n.Series != nil {
			t.Fatalf("the overview lists nodes without their series: %+v", n)
		}
	}
}

// failingRegistry cannot be read, as when Redis is away.
type failingRegistry struct{ *Memory }

func (*failingRegistry) List(context.Context, time.Duration) ([]Node, error) {
	return nil, errors.New("connection refused")
}

func TestOverviewShowsThisNodeWhenTheRegistryFails(t *testing.T) {
	n := &testNode{name: "a", conns: 4}
	o := n.fleet(&failingRegistry{Memory: NewMemory()}, time.Second, 0).Overview(context.Background())
	if len(o.Nodes) != 1 || o.Nodes[0].Name != "a" || o.Totals.Connections != 4 {
		t.Fatalf("overview %+v, want this node alone", o)
	}
	if len(o.Warnings) != 1 || !strings.Contains(o.Warnings[0], "only this node is shown") || !strings.Contains(o.Warnings[0], "connection refused") {
		t.Fatalf("warnings %q", o.Warnings)
	}
}
