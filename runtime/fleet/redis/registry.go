// Package redisfleet is the fleet registry nodes share through Redis: one
// hash, a field per node holding its JSON.
package redisfleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/redisconn"
)

var _ fleet.Registry = (*Registry)(nil)

// Config configures a Registry.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts the key. Default redisconn.DefaultKeyPrefix.
	Prefix string
}

// Registry is the Redis fleet.Registry. A node that stops writing is left
// out once stale, and removed by the next reader.
type Registry struct {
	client redis.UniversalClient
	key    string
}

// New returns the registry under the key <prefix>nodes.
func New(cfg Config) (*Registry, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisfleet: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = redisconn.DefaultKeyPrefix
	}
	return &Registry{client: cfg.Client, key: cfg.Prefix + "nodes"}, nil
}

// Put implements fleet.Registry.
func (r *Registry) Put(ctx context.Context, n fleet.Node) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return r.client.HSet(ctx, r.key, n.Name, b).Err()
}

// List implements fleet.Registry.
func (r *Registry) List(ctx context.Context, staleAfter time.Duration) ([]fleet.Node, error) {
	all, err := r.client.HGetAll(ctx, r.key).Result()
	if err != nil {
		return nil, fmt.Errorf("while reading the fleet registry: %w", err)
	}
	var out []fleet.Node
	var stale []string
	for name, raw := range all {
		var n fleet.Node
		if json.Unmarshal([]byte(raw), &n) != nil || time.Since(n.UpdatedAt) > staleAfter {
			stale = append(stale, name)
			continue
		}
		out = append(out, n)
	}
	if len(stale) > 0 {
		// Another reader may remove them too; either way they are gone.
		_ = r.client.HDel(ctx, r.key, stale...).Err()
	}
	return out, nil
}

// Remove implements fleet.Registry.
func (r *Registry) Remove(ctx context.Context, name string) error {
	return r.client.HDel(ctx, r.key, name).Err()
}
