package presence

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// Info is a user's presence.
type Info struct {
	Online      bool `json:"online"`
	Connections int  `json:"connections"`
}

// Conn names one connection, for Refresher.
type Conn struct {
	UserID, ConnID string
}

// Refresher is implemented by presence stores whose entries expire unless
// their node keeps refreshing them, so that a dead node's connections stop
// counting.
type Refresher interface {
	// Refresh pushes the expiry of connections that are still recorded
	// one TTL ahead; it does not bring back one that has left.
	Refresh(ctx context.Context, conns []Conn) error
	// Restore records the connections again, as Join would, whether or
	// not they are still recorded: after the store was out of reach for
	// longer than an entry lives, or lost its data. One that left
	// meanwhile may be counted again until its entry expires.
	Restore(ctx context.Context, conns []Conn) error
	TTL() time.Duration
}

// Lister is implemented by presence stores that can list every
// connection they count, for fleet-wide connection statistics.
type Lister interface {
	// Connections returns every live connection as (user id, connection
	// id) pairs. It may be slow: it is for admin endpoints.
	Connections(ctx context.Context) ([]Conn, error)
}

// Presence tracks connections per user. Join and Leave report the edges
// (first connection, last disconnection) so callers can announce them.
type Presence interface {
	Join(ctx context.Context, userID, connID string) (first bool, err error)
	Leave(ctx context.Context, userID, connID string) (last bool, err error)
	Get(ctx context.Context, userID string) (Info, error)
}

const shardCount = 32

// Memory is the in-process Presence, sharded by user so that connects of
// different users do not contend on one lock.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]memShard
}

// memShard maps a user to its connection ids. A slice, not a set: users
// have few connections, and a map per user would cost several times the
// memory of the ids themselves.
type memShard struct {
	mu    sync.Mutex
	users map[string][]string
}

var (
	_ Presence = (*Memory)(nil)
	_ Lister   = (*Memory)(nil)
)

// NewMemory returns an empty in-process Presence.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].users = make(map[string][]string)
	}
	return m
}

func (m *Memory) shard(userID string) *memShard {
	return &m.shards[maphash.String(m.seed, userID)%shardCount]
}

// Join implements Presence.
func (m *Memory) Join(_ context.Context, userID, connID string) (bool, error) {
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := s.users[userID]
	if slices.Contains(conns, connID) {
		return false, nil
	}
	s.users[userID] = append(conns, connID)
	return len(conns) == 0, nil
}

// Leave implements Presence.
func (m *Memory) Leave(_ context.Context, userID, connID string) (bool, error) {
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := s.users[userID]
	i := slices.Index(conns, connID)
	if i < 0 {
		return false, nil
	}
	conns = slices.Delete(conns, i, i+1)
	s.users[userID] = conns
	if len(conns) == 0 {
		delete(s.users, userID)
		return true, nil
	}
	return false, nil
}

// Connections implements Lister.
func (m *Memory) Connections(context.Context) ([]Conn, error) {
	var out []Conn
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for u, conns := range s.users {
			for _, c := range conns {
				out = append(out, Conn{UserID: u, ConnID: c})
			}
		}
		s.mu.Unlock()
	}
	return out, nil
}

// Get implements Presence.
func (m *Memory) Get(_ context.Context, userID string) (Info, error) {
	s := m.shard(userID)
	s.mu.Lock()
	n := len(s.users[userID])
	s.mu.Unlock()
	return Info{Online: n > 0, Connections: n}, nil
}
