package recovery

import (
	"context"
	"maps"
	"sync"
	"time"
)

// Record is what a Socket.IO session leaves for its client to come back to
// with connection state recovery: whose it was, and the channels it was
// subscribed to, each with the id of the last channel message written to
// it ("" when none).
type Record struct {
	// UserID is the user the session was authenticated as.
	UserID string `json:"userId"`
	// Channels maps each subscribed channel to the id of the last message
	// written to it, "" when none. Take never returns it nil.
	Channels map[string]string `json:"channels"`
	// Read maps a channel to the id of the last of its messages that the
	// client was known to have read; a channel is missing when none was.
	Read map[string]string `json:"read,omitempty"`
	// Last is the id of the last message written to the connection, of
	// any kind: a client whose offset is Last read everything written.
	Last string `json:"last,omitempty"`
}

// Store keeps records by the session's private id (Socket.IO's pid).
type Store interface {
	// Save records rec under pid for ttl, replacing what was there.
	Save(ctx context.Context, pid string, rec Record, ttl time.Duration) error
	// Take returns the record of pid and deletes it, so a pid recovers at
	// most once. ok is false when there is none: never saved, already
	// taken, or expired.
	Take(ctx context.Context, pid string) (rec Record, ok bool, err error)
}

type entry struct {
	rec     Record
	expires time.Time
}

// minSweep is the size below which Memory never sweeps: a few stale
// entries cost less than walking the map for them.
const minSweep = 64

// Memory is the in-process Store. Expiry is checked on Take; expired
// entries that are never taken are swept on Save whenever the map has
// doubled since the last sweep, so the work is amortised O(1) per Save and
// the map stays within twice its live entries (or minSweep).
type Memory struct {
	mu      sync.Mutex
	entries map[string]entry
	sweepAt int
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{entries: map[string]entry{}, sweepAt: minSweep}
}

// Save implements Store. It keeps a copy of rec.Channels, so the caller may
// go on changing its map.
func (m *Memory) Save(_ context.Context, pid string, rec Record, ttl time.Duration) error {
	now := time.Now()
	rec.Channels = cloneChannels(rec.Channels)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[pid] = entry{rec: rec, expires: now.Add(ttl)}
	if len(m.entries) >= m.sweepAt {
		m.sweep(now)
	}
	return nil
}

// sweep drops expired entries and sets the size of the next sweep to twice
// what is left. The caller holds m.mu.
func (m *Memory) sweep(now time.Time) {
	for pid, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, pid)
		}
	}
	m.sweepAt = max(2*len(m.entries), minSweep)
}

// Take implements Store.
func (m *Memory) Take(_ context.Context, pid string) (Record, bool, error) {
	m.mu.Lock()
	e, ok := m.entries[pid]
	delete(m.entries, pid)
	m.mu.Unlock()
	if !ok || !time.Now().Before(e.expires) {
		return Record{}, false, nil
	}
	return e.rec, true, nil
}

// cloneChannels copies chans, returning an empty map rather than nil.
func cloneChannels(chans map[string]string) map[string]string {
	if chans == nil {
		return map[string]string{}
	}
	return maps.Clone(chans)
}
