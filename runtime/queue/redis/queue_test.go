package redisqueue_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/queue/queuetest"
	redisqueue "github.com/fleetwire/fleetwire/runtime/queue/redis"
	"github.com/fleetwire/fleetwire/test/redistest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	queuetest.Run(t, func(t *testing.T, cfg queue.Config) queue.Queue {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = c.FlushAll(context.Background()).Err(); _ = c.Close() })
		q, err := redisqueue.New(redisqueue.Config{Client: c, MaxPerUser: cfg.MaxPerUser, TTL: cfg.TTL})
		if err != nil {
			t.Fatal(err)
		}
		return q
	})
}

func BenchmarkRedisPushDrain(b *testing.B) {
	srv := redistest.Start(b)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = c.Close() })
	q, err := redisqueue.New(redisqueue.Config{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	queuetest.Bench(b, q)
}
