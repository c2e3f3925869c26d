package redischanpresence_test

import (
	"context"
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
