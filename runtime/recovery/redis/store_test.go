package redisrecovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/recovery"
	"github.com/fleetwire/fleetwire/runtime/recovery/recoverytest"
	redisrecovery "github.com/fleetwire/fleetwire/runtime/recovery/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	recoverytest.Run(t, func(t *testing.T) recovery.Store {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		s, err := redisrecovery.New(redisrecovery.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s, err := redisrecovery.New(redisrecovery.Config{Client: c, Prefix: "x:"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "p1", recovery.Record{UserID: "u1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 1 || keys[0] != "x:recovery:{p1}" {
		t.Fatalf("keys %v %v, want [x:recovery:{p1}]", keys, err)
	}
}

func TestNewRequiresClient(t *testing.T) {
	if _, err := redisrecovery.New(redisrecovery.Config{}); err == nil {
		t.Fatal("New without a Client succeeded")
	}
}
