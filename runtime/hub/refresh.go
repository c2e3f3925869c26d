package hub

import (
	"context"
	"time"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/presence"
)

// refreshPresence keeps this node's connections counted in a presence
// store whose entries expire (presence.Refresher). It refreshes every
// third of the TTL, so one failed round does not make live users vanish.
// It stops when ctx ends.
func (h *Hub) refreshPresence(ctx context.Context, r presence.Refresher) {
	every := max(r.TTL()/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var conns []presence.Conn
		h.eachSession(func(s *Session) {
			conns = append(conns, presence.Conn{UserID: s.userID, ConnID: s.presenceID()})
		})
		rctx, cancel := context.WithTimeout(ctx, every)
		if err := r.Refresh(rctx, conns); err != nil {
			h.log.Error(err, "presence refresh failed; connections may stop counting", "connections", len(conns))
		}
		cancel()
	}
}

// refreshChannelPresence keeps this node's connections present on their
// channels, as refreshPresence does for users.
func (h *Hub) refreshChannelPresence(ctx context.Context, r chanpresence.Refresher) {
	every := max(r.TTL()/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		conns := h.channelPresenceConns()
		if len(conns) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		if err := r.Refresh(rctx, conns); err != nil {
			h.log.Error(err, "channel presence refresh failed; connections may leave the presence answer", "connections", len(conns))
		}
		cancel()
	}
}
