package queue

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Config bounds the memory queue. Zero values mean the defaults.
type Config struct {
	// MaxPerUser is the most messages held for one user. Default 1000.
	MaxPerUser int
	// TTL is how long a message waits before it expires. Default 24h.
	TTL time.Duration
}

// Defaults for Config.
const (
	DefaultMaxPerUser = 1000
	DefaultTTL        = 24 * time.Hour
)

const shardCount = 32

// sweepInterval bounds how long the memory of expired messages of users
// who never return is kept.
const sweepInterval = time.Minute

type entry struct {
	msg     *message.Message
	expires time.Time
}

// Memory is the in-process Queue.
type Memory struct {
	cfg       Config
	seed      maphash.Seed
	shards    [shardCount]memShard
	now       func() time.Time
	lastSweep atomic.Int64

	waiting   atomic.Int64
	completed atomic.Int64
	failed    atomic.Int64
	expired   atomic.Int64
}

type memShard struct {
	mu     sync.Mutex
	queues map[string][]entry
}

var _ Queue = (*Memory)(nil)

// NewMemory returns an empty memory queue.
func NewMemory(cfg Config) *Memory {
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = DefaultMaxPerUser
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	m := &Memory{cfg: cfg, seed: maphash.MakeSeed(), now: time.Now}
	for i := range m.shards {
		m.shards[i].queues = make(map[string][]entry)
	}
	m.lastSweep.Store(m.now().UnixNano())
	return m
}

func (m *Memory) shard(userID string) *memShard {
	return &m.shards[maphash.String(m.seed, userID)%shardCount]
}

// Push implements Queue.
func (m *Memory) Push(_ context.Context, userID string, msg *message.Message) (*message.Message, error) {
	now := m.now()
	m.maybeSweep(now)
	s := m.shard(userID)
	s.mu.Lock()
	q := m.dropExpired(s.queues[userID], now)
	var dropped *message.Message
	if len(q) >= m.cfg.MaxPerUser {
		i := victim(q)
		dropped = q[i].msg
		q = append(q[:i], q[i+1:]...)
		m.waiting.Add(-1)
		m.failed.Add(1)
	}
	s.queues[userID] = append(q, entry{msg: msg, expires: now.Add(m.cfg.TTL)})
	s.mu.Unlock()
	m.waiting.Add(1)
	return dropped, nil
}

// victim picks the oldest message of the lowest priority present.
func victim(q []entry) int {
	for _, p := range []message.Priority{message.PriorityLow, message.PriorityNormal} {
		for i, e := range q {
			if e.msg.Priority == p {
				return i
			}
		}
	}
	return 0
}

// dropExpired removes expired entries. Entries expire in order, since all
// share one TTL, so only a prefix can be expired.
func (m *Memory) dropExpired(q []entry, now time.Time) []entry {
	n := 0
	for n < len(q) && !q[n].expires.After(now) {
		n++
	}
	if n > 0 {
		m.expired.Add(int64(n))
		m.waiting.Add(-int64(n))
		q = append(q[:0:0], q[n:]...)
	}
	return q
}

// Drain implements Queue.
func (m *Memory) Drain(_ context.Context, userID string) ([]*message.Message, error) {
	s := m.shard(userID)
	s.mu.Lock()
	q := m.dropExpired(s.queues[userID], m.now())
	delete(s.queues, userID)
	s.mu.Unlock()
	if len(q) == 0 {
		return nil, nil
	}
	out := make([]*message.Message, len(q))
	for i, e := range q {
		out[i] = e.msg
	}
	m.waiting.Add(-int64(len(q)))
	m.completed.Add(int64(len(q)))
	return out, nil
}

// Peek implements Queue.
func (m *Memory) Peek(_ context.Context, userID string, limit int) ([]*message.Message, int, error) {
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := m.dropExpired(s.queues[userID], m.now())
	if len(q) == 0 {
		delete(s.queues, userID)
		return nil, 0, nil
	}
	s.queues[userID] = q
	n := min(limit, len(q))
	out := make([]*message.Message, n)
	for i := range n {
		out[i] = q[i].msg
	}
	return out, len(q), nil
}

// Remove implements Queue.
func (m *Memory) Remove(_ context.Context, userID string, ids []string) (int, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	s := m.shard(userID)
	s.mu.Lock()
	q := s.queues[userID]
	kept := q[:0]
	for _, e := range q {
		if !want[e.msg.ID] {
			kept = append(kept, e)
		}
	}
	n := len(q) - len(kept)
	clear(q[len(kept):])
	if len(kept) == 0 {
		delete(s.queues, userID)
	} else {
		s.queues[userID] = kept
	}
	s.mu.Unlock()
	m.waiting.Add(-int64(n))
	m.completed.Add(int64(n))
	return n, nil
}

// Clear implements Queue.
func (m *Memory) Clear(_ context.Context, userID string) (int, error) {
	s := m.shard(userID)
	s.mu.Lock()
	n := len(s.queues[userID])
	delete(s.queues, userID)
	s.mu.Unlock()
	m.waiting.Add(-int64(n))
	return n, nil
}

// Stats implements Queue.
func (m *Memory) Stats(_ context.Context) (Stats, error) {
	users := 0
	var oldest time.Time
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		users += len(s.queues)
		for _, q := range s.queues {
			// A queue keeps the order messages came in, so its first is
			// its oldest; each expires a TTL after it was queued.
			if len(q) > 0 {
				if at := q[0].expires.Add(-m.cfg.TTL); oldest.IsZero() || at.Before(oldest) {
					oldest = at
				}
			}
		}
		s.mu.Unlock()
	}
	return Stats{
		OldestAt:  oldest,
		Waiting:   int(m.waiting.Load()),
		Users:     users,
		Completed: m.completed.Load(),
		Failed:    m.failed.Load(),
		Expired:   m.expired.Load(),
	}, nil
}

// Largest implements Queue.
func (m *Memory) Largest(_ context.Context, n int) ([]UserDepth, error) {
	var all []UserDepth
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for u, q := range s.queues {
			all = append(all, UserDepth{UserID: u, Depth: len(q)})
		}
		s.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b UserDepth) int {
		if a.Depth != b.Depth {
			return b.Depth - a.Depth
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return all[:min(n, len(all))], nil
}

// maybeSweep drops expired messages of every user at most once per
// sweepInterval, so queues of users who never come back do not pin memory
// past their TTL.
func (m *Memory) maybeSweep(now time.Time) {
	last := m.lastSweep.Load()
	if now.UnixNano()-last < int64(sweepInterval) || !m.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for u, q := range s.queues {
			if q = m.dropExpired(q, now); len(q) == 0 {
				delete(s.queues, u)
			} else {
				s.queues[u] = q
			}
		}
		s.mu.Unlock()
	}
}
