// Package redishistory owns channel history shared by a fleet: one Redis
// stream per channel, capped in length, with each entry's age checked on
// read.
package redishistory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// Config configures a Store.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
}

// Store is the Redis implementation of history.Store.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ history.Store = (*Store)(nil)

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redishistory: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Store{client: cfg.Client, prefix: cfg.Prefix}, nil
}

func (s *Store) key(ch string) string { return s.prefix + "history:{" + ch + "}" }

// Append implements history.Store.
func (s *Store) Append(ctx context.Context, channel string, msg *message.Message, size int, ttl time.Duration) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("while encoding message %s: %w", msg.ID, err)
	}
	pipe := s.client.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.key(channel), MaxLen: int64(size),
		Values: []any{"i", msg.ID, "d", data, "t", time.Now().UnixMilli()}})
	pipe.PExpire(ctx, s.key(channel), ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("while recording history of %s: %w", channel, err)
	}
	return nil
}

// Since implements history.Store.
func (s *Store) Since(ctx context.Context, channel, lastID string, ttl time.Duration) ([]*message.Message, bool, error) {
	live, err := s.live(ctx, channel, ttl)
	if err != nil {
		return nil, false, err
	}
	for i, x := range live {
		if x.Values["i"] == lastID {
			return decode(live[i+1:]), true, nil
		}
	}
	return nil, false, nil
}

// Recent implements history.Store.
func (s *Store) Recent(ctx context.Context, channel string, ttl time.Duration) ([]*message.Message, error) {
	live, err := s.live(ctx, channel, ttl)
	if err != nil {
		return nil, err
	}
	return decode(live), nil
}

// live reads the channel's entries younger than ttl, oldest first.
func (s *Store) live(ctx context.Context, channel string, ttl time.Duration) ([]redis.XMessage, error) {
	xs, err := s.client.XRange(ctx, s.key(channel), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("while reading history of %s: %w", channel, err)
	}
	oldest := time.Now().Add(-ttl).UnixMilli()
	live := xs[:0]
	for _, x := range xs {
		if at, _ := strconv.ParseInt(fmt.Sprint(x.Values["t"]), 10, 64); at >= oldest {
			live = append(live, x)
		}
	}
	return live, nil
}

func decode(xs []redis.XMessage) []*message.Message {
	out := make([]*message.Message, 0, len(xs))
	for _, x := range xs {
		var m message.Message
		if d, ok := x.Values["d"].(string); ok && json.Unmarshal([]byte(d), &m) == nil {
			out = append(out, &m)
		}
	}
	return out
}
