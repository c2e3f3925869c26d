package redispresence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/presence"
	"github.com/fleetwire/fleetwire/runtime/presence/presencetest"
	redispresence "github.com/fleetwire/fleetwire/runtime/presence/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func newPresence(t *testing.T, srv *redistest.Server, ttl time.Duration) *redispresence.Presence {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
	p, err := redispresence.New(redispresence.Config{Client: c, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	presencetest.Run(t, func(t *testing.T) presence.Presence { return newPresence(t, srv, 0) })
}

// TestDeadNodeStopsCounting: connections that are not refreshed, as on a
// node that died, stop counting after the TTL; refreshed ones stay.
func TestDeadNodeStopsCounting(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	p := newPresence(t, srv, 300*time.Millisecond)
	if _, err := p.Join(ctx, "alice", "on-dead-node"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Join(ctx, "bob", "on-live-node"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		time.Sleep(100 * time.Millisecond)
		if err := p.Refresh(ctx, []presence.Conn{{UserID: "bob", ConnID: "on-live-node"}}); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := p.Get(ctx, "alice"); info.Online {
		t.Fatalf("alice still online after the TTL: %+v", info)
	}
	if info, _ := p.Get(ctx, "bob"); !info.Online || info.Connections != 1 {
		t.Fatalf("refreshed bob: %+v", info)
	}
	// A refresh never resurrects a connection that left.
	if _, err := p.Leave(ctx, "bob", "on-live-node"); err != nil {
		t.Fatal(err)
	}
	_ = p.Refresh(ctx, []presence.Conn{{UserID: "bob", ConnID: "on-live-node"}})
	if info, _ := p.Get(ctx, "bob"); info.Online {
		t.Fatalf("bob resurrected by a refresh: %+v", info)
	}
}

// TestSharedAcrossNodes: two nodes joining the same user see one "first"
// and one "last" between them.
func TestSharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := newPresence(t, srv, 0), newPresence(t, srv, 0)
	if first, _ := a.Join(ctx, "carol", "a1"); !first {
		t.Fatal("first join on node A not first")
	}
	if first, _ := b.Join(ctx, "carol", "b1"); first {
		t.Fatal("join on node B reported first")
	}
	if info, _ := b.Get(ctx, "carol"); info.Connections != 2 {
		t.Fatalf("connections %d, want 2", info.Connections)
	}
	if last, _ := a.Leave(ctx, "carol", "a1"); last {
		t.Fatal("leave on A reported last while B holds one")
	}
	if last, _ := b.Leave(ctx, "carol", "b1"); !last {
		t.Fatal("final leave not last")
	}
}

// TestConnectionsListsEveryLiveConnection lists more users than one scan
// page holds, and leaves out the connections that expired.
func TestConnectionsListsEveryLiveConnection(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	p := newPresence(t, srv, time.Minute)
	want := map[presence.Conn]bool{}
	for i := range 1200 {
		c := presence.Conn{UserID: fmt.Sprintf("u%d", i), ConnID: "c1"}
		if _, err := p.Join(ctx, c.UserID, c.ConnID); err != nil {
			t.Fatal(err)
		}
		want[c] = true
	}
	if _, err := p.Join(ctx, "u7", "c2"); err != nil {
		t.Fatal(err)
	}
	want[presence.Conn{UserID: "u7", ConnID: "c2"}] = true
	// A connection whose expiry has passed, as a dead node leaves it.
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	if err := raw.ZAdd(ctx, "fleetwire:presence:{gone}", redis.Z{Score: 1, Member: "c1"}).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := p.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d connections listed, want %d", len(got), len(want))
	}
	for _, c := range got {
		if !want[c] {
			t.Fatalf("listed %+v, which is not live", c)
		}
	}
}

// BenchmarkConnections lists 20,000 users' connections, as a fleet-wide
// GET /admin/connections does.
func BenchmarkConnections(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	p, err := redispresence.New(redispresence.Config{Client: c, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const users = 20000
	exp := float64(time.Now().Add(time.Hour).UnixMilli())
	if _, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range users {
			pipe.ZAdd(ctx, fmt.Sprintf("fleetwire:presence:{u%d}", i), redis.Z{Score: exp, Member: "c1"})
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := p.Connections(ctx)
		if err != nil || len(got) != users {
			b.Fatalf("%d connections, %v", len(got), err)
		}
	}
}

// TestRestoreRecordsLostConnections: once the store has lost a live
// connection (out of reach for longer than an entry lives, or restarted
// empty), a refresh does not bring it back; a restore does.
func TestRestoreRecordsLostConnections(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	p := newPresence(t, srv, time.Minute)
	conns := []presence.Conn{{UserID: "alice", ConnID: "a1"}, {UserID: "alice", ConnID: "a2"}, {UserID: "bob", ConnID: "b1"}}
	for _, c := range conns {
		if _, err := p.Join(ctx, c.UserID, c.ConnID); err != nil {
			t.Fatal(err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil { // the data lost
		t.Fatal(err)
	}
	if err := p.Refresh(ctx, conns); err != nil {
		t.Fatal(err)
	}
	if info, _ := p.Get(ctx, "alice"); info.Online {
		t.Fatalf("a refresh brought alice back: %+v", info)
	}
	if err := p.Restore(ctx, conns); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{"alice": 2, "bob": 1} {
		if info, err := p.Get(ctx, user); err != nil || !info.Online || info.Connections != want {
			t.Errorf("%s after the restore: %+v %v, want %d connections", user, info, err, want)
		}
	}
	keys := c.Keys(ctx, "*presence:{bob}").Val()
	if len(keys) != 1 || c.PTTL(ctx, keys[0]).Val() <= 0 {
		t.Errorf("bob's key after the restore: %v, want one that expires", keys)
	}
}
