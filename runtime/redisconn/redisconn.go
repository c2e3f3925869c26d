package redisconn

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Config says how to reach Redis. Zero values mean the defaults.
type Config struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS.
	URL string
	// KeyPrefix starts every key and channel name. Default "fleetwire:".
	KeyPrefix string
}

// DefaultKeyPrefix is used when Config.KeyPrefix is empty.
const DefaultKeyPrefix = "fleetwire:"

// NewClient builds a client for cfg. It does not dial; the first command
// does.
func NewClient(cfg Config) (redis.UniversalClient, error) {
	if cfg.URL == "" {
		return nil, errors.New("redisconn: URL is required")
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisconn: %w", err)
	}
	return redis.NewClient(opts), nil
}

// Prefix returns cfg's key prefix, or the default.
func (cfg Config) Prefix() string {
	if cfg.KeyPrefix == "" {
		return DefaultKeyPrefix
	}
	return cfg.KeyPrefix
}
