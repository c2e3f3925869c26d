package hub

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fleetwire/fleetwire/runtime/presence"
	"github.com/fleetwire/fleetwire/runtime/queue"
)

// QueueReport is the offline queue's state in the replaced service's
// terms, with the deepest queues.
type QueueReport struct {
	queue.Stats
	Largest []queue.UserDepth `json:"largest"`
}

// QueueReport reads the queue's statistics and its top deepest queues.
func (h *Hub) QueueReport(ctx context.Context, top int) (QueueReport, error) {
	st, err := h.cfg.Queue.Stats(ctx)
	if err != nil {
		return QueueReport{}, fmt.Errorf("while reading queue statistics: %w", err)
	}
	largest, err := h.cfg.Queue.Largest(ctx, top)
	if err != nil {
		return QueueReport{}, fmt.Errorf("while listing the largest queues: %w", err)
	}
	if largest == nil {
		largest = []queue.UserDepth{}
	}
	return QueueReport{Stats: st, Largest: largest}, nil
}

// ConnectionStats is what GET /admin/connections reports for this node.
type ConnectionStats struct {
	Total       int            `json:"total"`
	Users       int            `json:"users"`
	ByTier      map[string]int `json:"byTier"`
	ByTransport map[string]int `json:"byTransport"`
	TopUsers    []UserCount    `json:"topUsers"`
}

// UserCount is one user's connection count.
type UserCount struct {
	UserID      string `json:"userId"`
	Connections int    `json:"connections"`
}

// defaultTier labels connections whose token has no tier claim.
const defaultTier = "default"

// presenceSep separates the parts of a presence id.
const presenceSep = "|"

// presenceID is how the session is known to the presence store: its
// connection id, tier and transport, so that fleet-wide statistics can be
// read back from presence alone.
func (s *Session) presenceID() string {
	return s.meta.ConnID + presenceSep + s.tier() + presenceSep + s.codec.Name()
}

// tier is the token's tier, or defaultTier.
func (s *Session) tier() string {
	if s.Claims().Tier == "" {
		return defaultTier
	}
	return s.Claims().Tier
}

// ConnectionStats counts sessions by tier and transport and lists the top
// users by connections: across the fleet when the presence store can list
// connections, else on this node.
func (h *Hub) ConnectionStats(ctx context.Context, top int) (ConnectionStats, error) {
	st := ConnectionStats{ByTier: map[string]int{}, ByTransport: map[string]int{}}
	perUser := map[string]int{}
	count := func(user, tier, transport string) {
		st.Total++
		st.ByTier[tier]++
		st.ByTransport[transport]++
		perUser[user]++
	}
	if l, ok := h.cfg.Presence.(presence.Lister); ok {
		conns, err := l.Connections(ctx)
		if err != nil {
			return st, fmt.Errorf("while listing connections: %w", err)
		}
		for _, c := range conns {
			parts := strings.SplitN(c.ConnID, presenceSep, 3)
			if len(parts) != 3 {
				parts = []string{c.ConnID, defaultTier, "unknown"}
			}
			count(c.UserID, parts[1], parts[2])
		}
	} else {
		h.eachSession(func(s *Session) { count(s.userID, s.tier(), s.codec.Name()) })
	}
	st.Users = len(perUser)
	st.TopUsers = make([]UserCount, 0, len(perUser))
	for u, n := range perUser {
		st.TopUsers = append(st.TopUsers, UserCount{UserID: u, Connections: n})
	}
	slices.SortFunc(st.TopUsers, func(a, b UserCount) int {
		if c := cmp.Compare(b.Connections, a.Connections); c != 0 {
			return c
		}
		return cmp.Compare(a.UserID, b.UserID)
	})
	st.TopUsers = st.TopUsers[:min(top, len(st.TopUsers))]
	return st, nil
}

// DisconnectUser closes every session of the user on this node with 4004
// and returns how many it closed.
func (h *Hub) DisconnectUser(userID string) int {
	sessions := h.sessionsOf(userID)
	for _, s := range sessions {
		s.close(closeByAdmin)
	}
	return len(sessions)
}
