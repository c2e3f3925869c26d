package redishistory_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/history/historytest"
	redishistory "github.com/fleetwire/fleetwire/runtime/history/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	historytest.Run(t, func(t *testing.T) history.Store {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		s, err := redishistory.New(redishistory.Config{Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
