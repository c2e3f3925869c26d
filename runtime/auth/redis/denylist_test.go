package redisdenylist_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/auth/denylisttest"
	redisdenylist "github.com/fleetwire/fleetwire/runtime/auth/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	denylisttest.Run(t, func(t *testing.T) auth.Denylist {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		d, err := redisdenylist.New(redisdenylist.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
