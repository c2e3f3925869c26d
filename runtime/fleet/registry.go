package fleet

import (
	"context"
	"sync"
	"time"
)

var _ Registry = (*Memory)(nil)

// Memory is the Registry of a single node, the default; fleet/redis holds
// the one a fleet shares.
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
