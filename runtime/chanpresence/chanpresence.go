// Package chanpresence records who is on a channel, for namespaces with
// presence on: each connection subscribed to the channel, by user, with
// the user's optional info from their token. Join and Leave report a
// user's first connection on the channel and their last, which the hub
// announces with join and leave events.
package chanpresence

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Conn is one connection on a channel.
type Conn struct {
	Channel string
	UserID  string
	ConnID  string
	// Info is the user's info claim, if their token has one.
	Info json.RawMessage
}

// Member is one user on a channel.
type Member struct {
	UserID      string          `json:"userId"`
	Connections int             `json:"connections"`
	Info        json.RawMessage `json:"info,omitempty"`
}

// Stats counts a channel's users and connections.
type Stats struct {
	Users       int `json:"users"`
	Connections int `json:"connections"`
}

// Store keeps channel presence.
type Store interface {
	// Join records c; first is true when its user had no other
	// connection on the channel.
	Join(ctx context.Context, c Conn) (first bool, err error)
	// Leave forgets a connection; last is true when it was its user's
	// last on the channel.
	Leave(ctx context.Context, channel, userID, connID string) (last bool, err error)
	// Members returns the channel's users whose id sorts after after,
	// in order, at most limit of them; more is true when others follow.
	Members(ctx context.Context, channel, after string, limit int) (members []Member, more bool, err error)
	// Stats counts the channel's users and connections.
	Stats(ctx context.Context, channel string) (Stats, error)
}

// Refresher is implemented by stores whose entries expire unless their
// node keeps refreshing them, so that a dead node's connections leave.
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

// Memory is the in-process Store.
type Memory struct {
	mu    sync.Mutex
	chans map[string]map[string]*memUser // channel -> user
}

type memUser struct {
	conns map[string]struct{}
	info  json.RawMessage
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{chans: map[string]map[string]*memUser{}} }

// Join implements Store.
func (m *Memory) Join(_ context.Context, c Conn) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	users := m.chans[c.Channel]
	if users == nil {
		users = map[string]*memUser{}
		m.chans[c.Channel] = users
	}
	u := users[c.UserID]
	if u == nil {
		u = &memUser{conns: map[string]struct{}{}}
		users[c.UserID] = u
	}
	if len(c.Info) > 0 {
		u.info = c.Info
	}
	_, had := u.conns[c.ConnID]
	u.conns[c.ConnID] = struct{}{}
	return !had && len(u.conns) == 1, nil
}

// Leave implements Store.
func (m *Memory) Leave(_ context.Context, channel, userID, connID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.chans[channel][userID]
	if u == nil {
		return false, nil
	}
	if _, had := u.conns[connID]; !had {
		return false, nil
	}
	delete(u.conns, connID)
	if len(u.conns) > 0 {
		return false, nil
	}
	delete(m.chans[channel], userID)
	if len(m.chans[channel]) == 0 {
		delete(m.chans, channel)
	}
	return true, nil
}

// Members implements Store.
func (m *Memory) Members(_ context.Context, channel, after string, limit int) ([]Member, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.chans[channel]))
	for id := range m.chans[channel] {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	out := make([]Member, 0, len(ids))
	for _, id := range ids {
		u := m.chans[channel][id]
		out = append(out, Member{UserID: id, Connections: len(u.conns), Info: u.info})
	}
	return out, more, nil
}

// Stats implements Store.
func (m *Memory) Stats(_ context.Context, channel string) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st Stats
	for _, u := range m.chans[channel] {
		st.Users++
		st.Connections += len(u.conns)
	}
	return st, nil
}
