package hub

import (
	"context"
	"time"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/presence"
)

// refreshPresence keeps this node's connections counted in a presence
// store whose entries expire (presence.Refresher).
func (h *Hub) refreshPresence(ctx context.Context, r presence.Refresher) {
	h.refreshEvery(ctx, r.TTL(), "presence refresh failed; connections may stop counting",
		func(ctx context.Context, restore bool) (int, error) {
			var conns []presence.Conn
			h.eachSession(func(s *Session) {
				conns = append(conns, presence.Conn{UserID: s.userID, ConnID: s.presenceID()})
			})
			if restore {
				return len(conns), r.Restore(ctx, conns)
			}
			return len(conns), r.Refresh(ctx, conns)
		})
}

// refreshChannelPresence keeps this node's connections present on their
// channels, as refreshPresence does for users.
func (h *Hub) refreshChannelPresence(ctx context.Context, r chanpresence.Refresher) {
	h.refreshEvery(ctx, r.TTL(), "channel presence refresh failed; connections may leave the presence answer",
		func(ctx context.Context, restore bool) (int, error) {
			conns := h.channelPresenceConns()
			if len(conns) == 0 {
				return 0, nil
			}
			if restore {
				return len(conns), r.Restore(ctx, conns)
			}
			return len(conns), r.Refresh(ctx, conns)
		})
}

// refreshEvery runs refresh every third of ttl, so one failed round does
// not make live connections vanish, each round bounded by the interval,
// until ctx ends. A failure is logged with what; refresh reports how many
// connections it covered.
//
// After a round failed, or the broker's subscription broke since the last
// round, the store may have lost entries: it was out of reach for longer
// than they live, or restarted without its data. A refresh does not bring
// those back, so refresh is asked to restore them instead (restore), until
// a round succeeds.
func (h *Hub) refreshEvery(ctx context.Context, ttl time.Duration, what string, refresh func(ctx context.Context, restore bool) (int, error)) {
	every := max(ttl/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	failed, breaks := false, h.breaks()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := h.breaks()
		rctx, cancel := context.WithTimeout(ctx, every)
		n, err := refresh(rctx, failed || now != breaks)
		cancel()
		if err != nil {
			h.log.Error(err, what, "connections", n)
		}
		failed, breaks = err != nil, now
	}
}

// breaks counts the breaks and returns of the broker's subscription.
func (h *Hub) breaks() uint64 {
	h.gap.mu.Lock()
	defer h.gap.mu.Unlock()
	return h.gap.gen
}
