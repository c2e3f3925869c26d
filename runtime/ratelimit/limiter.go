package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is Limit events per Window. The bucket holds Limit tokens and
// refills evenly over the window, so short bursts up to Limit pass.
type Rule struct {
	Limit  int
	Window time.Duration
}

// Disabled reports whether the rule lets everything through.
func (r Rule) Disabled() bool { return r.Limit <= 0 || r.Window <= 0 }

func (r Rule) String() string { return fmt.Sprintf("%d/%s", r.Limit, r.Window) }

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until one event would be allowed.
	RetryAfter time.Duration
}

// Limiter decides whether the event identified by key may happen now.
type Limiter interface {
	Allow(ctx context.Context, key string, rule Rule) (Decision, error)
}

const shardCount = 32

// Memory is the in-process Limiter. Buckets idle for longer than their
// window are full again, so they are swept to bound memory.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]memShard
	now    func() time.Time
}

type memShard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	rule     Rule
	lastSeen time.Time
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now}
	for i := range m.shards {
		m.shards[i].buckets = make(map[string]*bucket)
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, rule Rule) (Decision, error) {
	if rule.Disabled() {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	s := &m.shards[maphash.String(m.seed, key)%shardCount]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	b := s.buckets[key]
	if b == nil || b.rule != rule {
		every := rule.Window / time.Duration(rule.Limit)
		b = &bucket{lim: rate.NewLimiter(rate.Every(every), rule.Limit), rule: rule}
		s.buckets[key] = b
	}
	b.lastSeen = now
	if b.lim.AllowN(now, 1) {
		return Decision{Allowed: true}, nil
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return Decision{RetryAfter: wait}, nil
}

// sweep drops buckets that have been idle longer than their window; such a
// bucket is full, which is the same as no bucket.
func (s *memShard) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, b := range s.buckets {
		if now.Sub(b.lastSeen) > b.rule.Window {
			delete(s.buckets, k)
		}
	}
}
