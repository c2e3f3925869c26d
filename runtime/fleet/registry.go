package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Memory is the Registry of a single node.
type Memory struct {
	mu    sync.Mutex
	nodes map[string]Node
}

// NewMemory returns an empty Memory registry.
func NewMemory() *Memory { return &Memory{nodes: map[string]Node{}} }

// Put implements Registry.
func (m *Memory) Put(_ context.Context, n Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[n.Name] = n
	return nil
}

// List implements Registry.
func (m *Memory) List(_ context.Context, staleAfter time.Duration) ([]Node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Node
	for _, n := range m.nodes {
		if time.Since(n.UpdatedAt) <= staleAfter {
			out = append(out, n)
		}
	}
	return out, nil
}

// Remove implements Registry.
func (m *Memory) Remove(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, name)
	return nil
}

// Redis is the Registry of a fleet: one hash, a field per node holding
// its JSON. A node that stops writing is left out once stale and then
// removed by the next reader.
type Redis struct {
	client redis.UniversalClient
	key    string
}

// NewRedis returns the registry under prefix (e.g. "fleetwire:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, key: prefix + "nodes"}
}

// Put implements Registry.
func (r *Redis) Put(ctx context.Context, n Node) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return r.client.HSet(ctx, r.key, n.Name, b).Err()
}

// List implements Registry.
func (r *Redis) List(ctx context.Context, staleAfter time.Duration) ([]Node, error) {
	all, err := r.client.HGetAll(ctx, r.key).Result()
	if err != nil {
		return nil, fmt.Errorf("while reading the fleet registry: %w", err)
	}
	var out []Node
	var stale []string
	for name, raw := range all {
		var n Node
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

// Remove implements Registry.
func (r *Redis) Remove(ctx context.Context, name string) error {
	return r.client.HDel(ctx, r.key, name).Err()
}
