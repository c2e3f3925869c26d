package history

import (
	"context"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Store keeps channel histories.
type Store interface {
	// Append records msg as the newest entry of the channel's history,
	// keeping at most size entries younger than ttl.
	Append(ctx context.Context, channel string, msg *message.Message, size int, ttl time.Duration) error
	// Since returns the entries after the one with id lastID, oldest first.
	// recovered is false when lastID is no longer (or never was) in the
	// history: the gap is larger than the history, and the client must
	// refetch.
	Since(ctx context.Context, channel, lastID string, ttl time.Duration) (msgs []*message.Message, recovered bool, err error)
	// Recent returns every entry younger than ttl, oldest first.
	Recent(ctx context.Context, channel string, ttl time.Duration) ([]*message.Message, error)
}

type entry struct {
	msg *message.Message
	at  time.Time
}

// Memory is the in-process Store.
type Memory struct {
	mu      sync.Mutex
	chans   map[string][]entry
	ttls    map[string]time.Duration // each channel's ttl at its last Append
	appends int
}

// sweepEvery is how many Appends pass between sweeps of channels whose
// entries have all expired: a channel published once and never read
// again does not stay in memory.
const sweepEvery = 1024

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{chans: map[string][]entry{}, ttls: map[string]time.Duration{}}
}

// Append implements Store.
func (m *Memory) Append(_ context.Context, channel string, msg *message.Message, size int, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	h := append(m.chans[channel], entry{msg: msg, at: now})
	if over := len(h) - size; over > 0 {
		h = append(h[:0:0], h[over:]...)
	}
	m.chans[channel] = trimOld(h, now, ttl)
	m.ttls[channel] = ttl
	if m.appends++; m.appends%sweepEvery == 0 {
		m.sweepLocked(now)
	}
	return nil
}

func (m *Memory) sweepLocked(now time.Time) {
	for ch, h := range m.chans {
		if h = trimOld(h, now, m.ttls[ch]); len(h) == 0 {
			delete(m.chans, ch)
			delete(m.ttls, ch)
		} else {
			m.chans[ch] = h
		}
	}
}

func trimOld(h []entry, now time.Time, ttl time.Duration) []entry {
	n := 0
	for n < len(h) && now.Sub(h[n].at) > ttl {
		n++
	}
	return h[n:]
}

// Recent implements Store.
func (m *Memory) Recent(_ context.Context, channel string, ttl time.Duration) ([]*message.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.liveLocked(channel, ttl)
	out := make([]*message.Message, 0, len(h))
	for _, e := range h {
		out = append(out, e.msg)
	}
	return out, nil
}

// liveLocked trims the channel's expired entries and returns the rest. A
// channel left with none is forgotten.
func (m *Memory) liveLocked(channel string, ttl time.Duration) []entry {
	h := trimOld(m.chans[channel], time.Now(), ttl)
	if len(h) == 0 {
		delete(m.chans, channel)
		delete(m.ttls, channel)
		return nil
	}
	m.chans[channel] = h
	return h
}

// Since implements Store.
func (m *Memory) Since(_ context.Context, channel, lastID string, ttl time.Duration) ([]*message.Message, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.liveLocked(channel, ttl)
	for i, e := range h {
		if e.msg.ID == lastID {
			out := make([]*message.Message, 0, len(h)-i-1)
			for _, x := range h[i+1:] {
				out = append(out, x.msg)
			}
			return out, true, nil
		}
	}
	return nil, false, nil
}
