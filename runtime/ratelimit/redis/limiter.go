// Package redislimiter owns rate decisions shared by a fleet: a
// ratelimit.Limiter on Redis using go-redis/redis_rate (GCRA), so per-user
// and per-IP limits hold across every node.
package redislimiter

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/ratelimit"
)

// Config configures a Limiter.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
}

// Limiter is the Redis implementation of ratelimit.Limiter.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("redislimiter: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Limiter{rl: redis_rate.NewLimiter(cfg.Client), prefix: cfg.Prefix}, nil
}

// Allow implements ratelimit.Limiter with the same bucket shape as the
// memory limiter: a burst of Limit, refilled evenly over Window.
func (l *Limiter) Allow(ctx context.Context, key string, rule ratelimit.Rule) (ratelimit.Decision, error) {
	if rule.Disabled() {
		return ratelimit.Decision{Allowed: true}, nil
	}
	res, err := l.rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: rule.Limit, Burst: rule.Limit, Period: rule.Window})
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("while checking rate %s: %w", rule, err)
	}
	if res.Allowed > 0 {
		return ratelimit.Decision{Allowed: true}, nil
	}
	return ratelimit.Decision{RetryAfter: res.RetryAfter}, nil
}
