package presence

import (
	"context"
	"hash/maphash"
	"sync"
)

// Info is a user's presence.
type Info struct {
	Online      bool `json:"online"`
	Connections int  `json:"connections"`
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

type memShard struct {
	mu    sync.Mutex
	users map[string]map[string]struct{}
}

var _ Presence = (*Memory)(nil)

// NewMemory returns an empty in-process Presence.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].users = make(map[string]map[string]struct{})
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
	if conns == nil {
		conns = make(map[string]struct{}, 1)
		s.users[userID] = conns
	}
	conns[connID] = struct{}{}
	return len(conns) == 1, nil
}

// Leave implements Presence.
func (m *Memory) Leave(_ context.Context, userID, connID string) (bool, error) {
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	conns, ok := s.users[userID]
	if !ok {
		return false, nil
	}
	if _, had := conns[connID]; !had {
		return false, nil
	}
	delete(conns, connID)
	if len(conns) == 0 {
		delete(s.users, userID)
		return true, nil
	}
	return false, nil
}

// Get implements Presence.
func (m *Memory) Get(_ context.Context, userID string) (Info, error) {
	s := m.shard(userID)
	s.mu.Lock()
	n := len(s.users[userID])
	s.mu.Unlock()
	return Info{Online: n > 0, Connections: n}, nil
}
