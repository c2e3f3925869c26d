package redisserversub_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/serversub"
	redisserversub "github.com/fleetwire/fleetwire/runtime/serversub/redis"
	"github.com/fleetwire/fleetwire/runtime/serversub/serversubtest"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	serversubtest.Run(t, func(t *testing.T) serversub.Store {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		s, err := redisserversub.New(redisserversub.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestKeyExpires: a user's key goes with its longest subscription.
func TestKeyExpires(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s, err := redisserversub.New(redisserversub.Config{Client: c, Prefix: "x:"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, "u1", []string{"a:1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, _ := c.Keys(ctx, "*").Result()
	ttl, _ := c.PTTL(ctx, "x:serversub:{u1}").Result()
	if len(keys) != 1 || keys[0] != "x:serversub:{u1}" || ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("keys %v, ttl %s: want x:serversub:{u1} expiring in about a minute", keys, ttl)
	}
}

func TestNewRequiresClient(t *testing.T) {
	if _, err := redisserversub.New(redisserversub.Config{}); err == nil {
		t.Fatal("New without a Client succeeded")
	}
}
