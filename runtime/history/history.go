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
}

type entry struct {
	msg *message.Message
	at  time.Time
}

// Memory is the in-process Store.
type Memory struct {
	mu    sync.Mutex
	chans map[string][]entry
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{chans: map[string][]entry{}} }

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
	return nil
}

func trimOld(h []entry, now time.Time, ttl time.Duration) []entry {
	n := 0
	for n < len(h) && now.Sub(h[n].at) > ttl {
		n++
	}
	return h[n:]
}

// Since implements Store.
func (m *Memory) Since(_ context.Context, channel, lastID string, ttl time.Duration) ([]*message.Message, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := trimOld(m.chans[channel], time.Now(), ttl)
	m.chans[channel] = h
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
