package redisrecovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/recovery"
)

// Config configures a Store.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
}

// Store is the Redis implementation of recovery.Store.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ recovery.Store = (*Store)(nil)

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisrecovery: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Store{client: cfg.Client, prefix: cfg.Prefix}, nil
}

func (s *Store) key(pid string) string { return s.prefix + "recovery:{" + pid + "}" }

// Save implements recovery.Store.
func (s *Store) Save(ctx context.Context, pid string, rec recovery.Record, ttl time.Duration) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("while encoding a recovery record: %w", err)
	}
	// The client sends a ttl under a second as PX in whole milliseconds and
	// reads 0 as "never expire", so a ttl under 1ms is raised to 1ms: a
	// record must always expire.
	if err := s.client.Set(ctx, s.key(pid), data, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("while saving a recovery record: %w", err)
	}
	return nil
}

// Take implements recovery.Store.
func (s *Store) Take(ctx context.Context, pid string) (recovery.Record, bool, error) {
	data, err := s.client.GetDel(ctx, s.key(pid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return recovery.Record{}, false, nil
	}
	if err != nil {
		return recovery.Record{}, false, fmt.Errorf("while taking a recovery record: %w", err)
	}
	var rec recovery.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return recovery.Record{}, false, fmt.Errorf("while decoding a recovery record: %w", err)
	}
	if rec.Channels == nil {
		rec.Channels = map[string]string{}
	}
	return rec, true, nil
}
