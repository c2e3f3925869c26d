// Package redisdenylist owns token revocation shared by a fleet: an
// auth.Denylist in Redis whose entries expire when the revoked token would
// have.
package redisdenylist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/redisconn"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

// Config configures a Denylist.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every key. Default "fleetwire:".
	Prefix string
}

// Denylist is the Redis implementation of auth.Denylist.
type Denylist struct {
	client redis.UniversalClient
	prefix string
}

var _ auth.Denylist = (*Denylist)(nil)

// New returns a Denylist.
func New(cfg Config) (*Denylist, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisdenylist: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Denylist{client: cfg.Client, prefix: cfg.Prefix + "revoked:"}, nil
}

// Revoke implements auth.Denylist. The key expires at until; revoking
// again with a later time extends it (PEXPIREAT ... GT), never shortens it.
func (d *Denylist) Revoke(ctx context.Context, jti string, until time.Time) error {
	key := d.prefix + jti
	set, err := d.client.SetArgs(ctx, key, 1, redis.SetArgs{Mode: "NX", ExpireAt: until}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("while revoking a token: %w", err)
	}
	if set == "OK" {
		return nil
	}
	if err := d.client.Do(ctx, "PEXPIREAT", key, until.UnixMilli(), "GT").Err(); err != nil {
		return fmt.Errorf("while extending a revocation: %w", err)
	}
	return nil
}

// IsRevoked implements auth.Denylist.
func (d *Denylist) IsRevoked(ctx context.Context, jti string) (bool, error) {
	n, err := d.client.Exists(ctx, d.prefix+jti).Result()
	if err != nil {
		return false, fmt.Errorf("while reading the revocation list: %w", err)
	}
	return n > 0, nil
}
