package auth

import (
	"context"
	"sync"
	"time"
)

// Denylist records revoked token ids (jti). Entries need only live until
// the token would have expired anyway. The memory implementation is the
// default; a Redis implementation shares revocations across a fleet.
type Denylist interface {
	// Revoke denies jti until the given time; a later time extends an
	// existing revocation and an earlier one never shortens it.
	Revoke(ctx context.Context, jti string, until time.Time) error
	// IsRevoked reports whether jti is currently denied.
	IsRevoked(ctx context.Context, jti string) (bool, error)
}

// MemoryDenylist is an in-process Denylist. Expired entries are removed
// lazily on Revoke, so its size stays bounded by the live revocations.
type MemoryDenylist struct {
	mu      sync.RWMutex
	entries map[string]time.Time
	now     func() time.Time
}

var _ Denylist = (*MemoryDenylist)(nil)

// NewMemoryDenylist returns an empty in-process denylist.
func NewMemoryDenylist() *MemoryDenylist {
	return &MemoryDenylist{entries: make(map[string]time.Time), now: time.Now}
}

// sweepEvery bounds the work of lazy expiry: a full sweep runs at most once
// per this many revocations.
const sweepEvery = 256

// Revoke implements Denylist.
func (d *MemoryDenylist) Revoke(_ context.Context, jti string, until time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.entries[jti]; !ok || until.After(prev) {
		d.entries[jti] = until
	}
	if len(d.entries)%sweepEvery == 0 {
		now := d.now()
		for k, t := range d.entries {
			if !t.After(now) {
				delete(d.entries, k)
			}
		}
	}
	return nil
}

// IsRevoked implements Denylist.
func (d *MemoryDenylist) IsRevoked(_ context.Context, jti string) (bool, error) {
	d.mu.RLock()
	until, ok := d.entries[jti]
	d.mu.RUnlock()
	return ok && until.After(d.now()), nil
}
