package hub

import (
	"slices"
	"sync"
	"time"
)

// SessionInfo describes one live connection on this node, for the
// console's user page.
type SessionInfo struct {
	ConnID    string    `json:"connId"`
	Transport string    `json:"transport"`
	Since     time.Time `json:"since"`
	Channels  []string  `json:"channels"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
	Tier      string    `json:"tier"`
	// TokenID is the token's jti, which POST /admin/tokens/revoke takes;
	// "" when the token has none.
	TokenID string `json:"tokenId,omitempty"`
}

// UserSessions describes the user's connections on this node, oldest
// first.
func (h *Hub) UserSessions(userID string) []SessionInfo {
	out := []SessionInfo{}
	for _, s := range h.sessionsOf(userID) {
		chans := s.channelList()
		if chans == nil {
			chans = []string{}
		}
		out = append(out, SessionInfo{ConnID: s.meta.ConnID, Transport: s.codec.Name(), Since: s.since.UTC(),
			Channels: chans, IP: s.meta.IP, UserAgent: s.meta.UserAgent, Tier: s.tier(), TokenID: s.Claims().ID})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return a.Since.Compare(b.Since) })
	return out
}

// Users counts the users with a connection on this node.
func (h *Hub) Users() int {
	n := 0
	for i := range h.users {
		sh := &h.users[i]
		sh.mu.Lock()
		n += len(sh.users)
		sh.mu.Unlock()
	}
	return n
}

// DeliveryRecord is one direct message this node sent (SendToUser) and
// what became of it.
type DeliveryRecord struct {
	At        time.Time `json:"at"`
	UserID    string    `json:"userId"`
	MessageID string    `json:"messageId"`
	Type      string    `json:"type"`
	Priority  string    `json:"priority"`
	// Status is the Delivery's: delivered or queued.
	Status string `json:"status"`
}

// deliveryLogSize bounds the direct messages remembered per node.
const deliveryLogSize = 1024

// deliveryLog is a ring of the last deliveryLogSize direct messages.
type deliveryLog struct {
	mu   sync.Mutex
	buf  []DeliveryRecord
	next int
}

func (l *deliveryLog) add(r DeliveryRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) < deliveryLogSize {
		l.buf = append(l.buf, r)
		return
	}
	l.buf[l.next] = r
	l.next = (l.next + 1) % deliveryLogSize
}

// RecentDeliveries returns the user's last n direct messages sent by this
// node, newest first.
func (h *Hub) RecentDeliveries(userID string, n int) []DeliveryRecord {
	l := &h.deliveries
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []DeliveryRecord{}
	for i := range len(l.buf) {
		// Walk back from the newest entry.
		r := l.buf[(l.next-1-i+2*len(l.buf))%len(l.buf)]
		if r.UserID == userID {
			out = append(out, r)
			if len(out) == n {
				break
			}
		}
	}
	return out
}
