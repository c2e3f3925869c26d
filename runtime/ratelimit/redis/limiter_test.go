package redislimiter_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/ratelimit/limitertest"
	redislimiter "github.com/fleetwire/fleetwire/runtime/ratelimit/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	limitertest.Run(t, func(t *testing.T) ratelimit.Limiter {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		l, err := redislimiter.New(redislimiter.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// TestSharedAcrossNodes checks that two limiters (two nodes) share one
// bucket per key.
func TestSharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	var ls []*redislimiter.Limiter
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		l, err := redislimiter.New(redislimiter.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	rule := ratelimit.Rule{Limit: 4, Window: 60e9}
	allowed := 0
	for i := range 8 {
		d, err := ls[i%2].Allow(t.Context(), "user:alice", rule)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 4 {
		t.Fatalf("%d of 8 allowed across two nodes, want 4", allowed)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	l, err := redislimiter.New(redislimiter.Config{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	limitertest.Bench(b, l)
}
