package redischanpresence_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/chanpresence/chanpresencetest"
	redischanpresence "github.com/fleetwire/fleetwire/runtime/chanpresence/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func newStore(t *testing.T, srv *redistest.Server, ttl time.Duration) *redischanpresence.Store {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
	s, err := redischanpresence.New(redischanpresence.Config{Client: c, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	chanpresencetest.Run(t, func(t *testing.T) chanpresence.Store { return newStore(t, srv, time.Minute) })
}

// TestUnrefreshedConnectionsLeave: a node that stops refreshing (it died)
// has its connections leave the answer within the TTL, while a
// refreshed one stays.
func TestUnrefreshedConnectionsLeave(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, 300*time.Millisecond)
	ctx := context.Background()
	alive := chanpresence.Conn{Channel: "doc:1", UserID: "alice", ConnID: "a1"}
	for _, c := range []chanpresence.Conn{alive, {Channel: "doc:1", UserID: "bob", ConnID: "b1"}} {
		if _, err := s.Join(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		if err := s.Refresh(ctx, []chanpresence.Conn{alive}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := s.Stats(ctx, "doc:1")
	members, _, _ := s.Members(ctx, "doc:1", "", 10)
	if err != nil || st.Users != 1 || st.Connections != 1 || len(members) != 1 || members[0].UserID != "alice" {
		t.Fatalf("after bob's node stopped refreshing: %+v %+v %v", st, members, err)
	}
}

func TestNewRequiresClient(t *testing.T) {
	if _, err := redischanpresence.New(redischanpresence.Config{}); err == nil {
		t.Fatal("New without a Client succeeded")
	}
}

// A refresh sends one command per key, not per connection: 1,000
// connections of distinct users on one channel, and two more of one user
// on another, cost Redis about two commands a connection (one ZADD and
// one PEXPIRE per user), plus a few per channel; and every one of them is
// still present a TTL after it would have expired without the refresh.
func TestRefreshSendsOneCommandPerKey(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, 2*time.Second)
	ctx := context.Background()
	var conns []chanpresence.Conn
	for i := range 1000 {
		conns = append(conns, chanpresence.Conn{Channel: "doc:big", UserID: fmt.Sprintf("u%d", i), ConnID: fmt.Sprintf("c%d", i)})
	}
	conns = append(conns, chanpresence.Conn{Channel: "doc:small", UserID: "ann", ConnID: "a1"},
		chanpresence.Conn{Channel: "doc:small", UserID: "ann", ConnID: "a2"})
	for _, c := range conns {
		if _, err := s.Join(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })
	commands := func() int64 {
		info, err := admin.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no total_commands_processed")
		return 0
	}
	for range 2 { // past the joins' expiry: only refreshes keep them
		time.Sleep(time.Second)
		before := commands()
		if err := s.Refresh(ctx, conns); err != nil {
			t.Fatal(err)
		}
		// 1,001 users: a ZADD and a PEXPIRE each; per channel a ZADD of
		// its users (in chunks of 500) and two PEXPIREs; the INFO call.
		if got, want := commands()-before, int64(2*1001+3+1+2*2+1); got > want {
			t.Fatalf("a refresh of %d connections sent %d commands, want at most %d", len(conns), got, want)
		}
	}
	time.Sleep(time.Second) // past the first refresh's expiry too
	big, err := s.Stats(ctx, "doc:big")
	if err != nil || big.Users != 1000 || big.Connections != 1000 {
		t.Fatalf("doc:big after the refreshes: %+v %v, want 1000 users and connections", big, err)
	}
	small, err := s.Stats(ctx, "doc:small")
	if err != nil || small.Users != 1 || small.Connections != 2 {
		t.Fatalf("doc:small after the refreshes: %+v %v, want 1 user with 2 connections", small, err)
	}
}

// TestRestoreRecordsLostConnections: once the store has lost a live
// connection (out of reach for longer than an entry lives, or restarted
// empty), a refresh does not bring it back; a restore does, with the
// user's info.
func TestRestoreRecordsLostConnections(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, time.Minute)
	ctx := context.Background()
	conns := []chanpresence.Conn{
		{Channel: "doc:1", UserID: "alice", ConnID: "a1", Info: []byte(`{"name":"Alice"}`)},
		{Channel: "doc:1", UserID: "bob", ConnID: "b1"},
		{Channel: "doc:2", UserID: "alice", ConnID: "a1", Info: []byte(`{"name":"Alice"}`)},
	}
	for _, c := range conns {
		if _, err := s.Join(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.FlushAll(ctx).Err(); err != nil { // the data lost
		t.Fatal(err)
	}
	if err := s.Refresh(ctx, conns); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx, "doc:1"); st.Connections != 0 {
		t.Fatalf("a refresh brought connections back: %+v", st)
	}
	if err := s.Restore(ctx, conns); err != nil {
		t.Fatal(err)
	}
	for ch, want := range map[string]chanpresence.Stats{"doc:1": {Users: 2, Connections: 2}, "doc:2": {Users: 1, Connections: 1}} {
		if st, err := s.Stats(ctx, ch); err != nil || st != want {
			t.Errorf("%s after the restore: %+v %v, want %+v", ch, st, err, want)
		}
	}
	members, _, err := s.Members(ctx, "doc:1", "", 10)
	if err != nil || len(members) != 2 || members[0].UserID != "alice" || string(members[0].Info) != `{"name":"Alice"}` {
		t.Errorf("doc:1's members after the restore: %+v %v", members, err)
	}
}
