// Package serversub remembers the channels a backend subscribed a user to
// (POST /ws/subscribe/:userId), so that the user's next connections are
// subscribed to them too, for as long as each subscription lasts.
package serversub

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Store keeps each user's server-side subscriptions.
type Store interface {
	// Add subscribes the user to channels until ttl has passed, replacing
	// the expiry of any already there.
	Add(ctx context.Context, userID string, channels []string, ttl time.Duration) error
	// Remove forgets channels for the user.
	Remove(ctx context.Context, userID string, channels []string) error
	// List returns the user's unexpired channels, sorted.
	List(ctx context.Context, userID string) ([]string, error)
}

// Memory is the in-process Store.
type Memory struct {
	mu    sync.Mutex
	users map[string]map[string]time.Time // user -> channel -> expiry
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{users: map[string]map[string]time.Time{}} }

// Add implements Store.
func (m *Memory) Add(_ context.Context, userID string, channels []string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := m.users[userID]
	if subs == nil {
		subs = map[string]time.Time{}
		m.users[userID] = subs
	}
	until := time.Now().Add(ttl)
	for _, ch := range channels {
		subs[ch] = until
	}
	return nil
}

// Remove implements Store.
func (m *Memory) Remove(_ context.Context, userID string, channels []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := m.users[userID]
	for _, ch := range channels {
		delete(subs, ch)
	}
	if len(subs) == 0 {
		delete(m.users, userID)
	}
	return nil
}

// List implements Store. It forgets what has expired.
func (m *Memory) List(_ context.Context, userID string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	subs := m.users[userID]
	out := []string{}
	for ch, until := range subs {
		if now.After(until) {
			delete(subs, ch)
			continue
		}
		out = append(out, ch)
	}
	if len(subs) == 0 {
		delete(m.users, userID)
	}
	sort.Strings(out)
	return out, nil
}
