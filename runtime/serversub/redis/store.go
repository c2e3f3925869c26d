// Package redisserversub keeps server-side subscriptions in Redis, shared
// by the fleet: one sorted set per user, each channel scored by its
// expiry in Unix milliseconds.
package redisserversub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"
	"github.com/fleetwire/fleetwire/runtime/serversub"
)

// Config configures a Store.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
}

// Store is the Redis implementation of serversub.Store.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ serversub.Store = (*Store)(nil)

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisserversub: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Store{client: cfg.Client, prefix: cfg.Prefix}, nil
}

// key holds one user's subscriptions; the user id in braces keeps it on
// one cluster slot.
func (s *Store) key(userID string) string { return s.prefix + "serversub:{" + userID + "}" }

// addScript sets the channels' expiry, drops what has expired, and keeps
// the key alive as long as its longest subscription.
var addScript = redis.NewScript(`
local now, expiry = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2]))) end
return 1
`)

// Add implements serversub.Store.
func (s *Store) Add(ctx context.Context, userID string, channels []string, ttl time.Duration) error {
	now := time.Now()
	args := []any{now.UnixMilli(), now.Add(max(ttl, time.Millisecond)).UnixMilli()}
	for _, ch := range channels {
		args = append(args, ch)
	}
	if err := addScript.Run(ctx, s.client, []string{s.key(userID)}, args...).Err(); err != nil {
		return fmt.Errorf("while adding server-side subscriptions: %w", err)
	}
	return nil
}

// Remove implements serversub.Store.
func (s *Store) Remove(ctx context.Context, userID string, channels []string) error {
	members := make([]any, len(channels))
	for i, ch := range channels {
		members[i] = ch
	}
	if err := s.client.ZRem(ctx, s.key(userID), members...).Err(); err != nil {
		return fmt.Errorf("while removing server-side subscriptions: %w", err)
	}
	return nil
}

// List implements serversub.Store.
func (s *Store) List(ctx context.Context, userID string) ([]string, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	out, err := s.client.ZRangeByScore(ctx, s.key(userID), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("while reading server-side subscriptions: %w", err)
	}
	sort.Strings(out)
	return out, nil
}
