package redisfleet_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/fleet/fleettest"
	redisfleet "github.com/fleetwire/fleetwire/runtime/fleet/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	fleettest.Run(t, func(t *testing.T) fleet.Registry {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		r, err := redisfleet.New(redisfleet.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}
