package hub

import (
	"context"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Republishing what a store lost. A publication this node accepted just
// before its broker broke was recorded in the history and handed to the
// broker, but the other nodes may not have received it: it can sit in
// Redis's output buffer when Redis dies. If Redis then comes back without
// its data, the other nodes' gap fill cannot find it in the history
// either. So the node remembers what it accepted in the last moments, and
// once its subscription is back it records again, and publishes again,
// each one that the history no longer holds. The other nodes deliver it
// live or through their own gap fill, once (alreadyFilled); a node that
// had it before the break skips the republished copy (staleRepublished).
// Being recorded again, it lands in the history after publications made
// since: the gap fill therefore reads histories by timestamp as well as
// by position (Hub.missed).
//
// Messages sent to users are kept in their queues until a connection has
// them, so a queue that no longer holds one does not say it was lost: it
// may have been delivered. The store's epoch (Config.StoreEpoch) says
// whether the store lost its data during the break. Only then are the
// messages sent just before the break, and no longer queued, queued and
// published again. The node that had delivered one before the break
// remembers it (Hub.delivered) and does not deliver it again.

// republishWindow is how long before a break a publication is looked at
// again: the broker had it for at most this long without delivering it.
const republishWindow = 5 * time.Second

// maxRecent bounds what the node remembers; past it, the oldest go first.
const maxRecent = 4096

// recentPublication is a channel publication, a broadcast (name is
// broadcastHistory) or a message to a user (user is set) this node
// accepted.
type recentPublication struct {
	name, user string
	msg        *message.Message
	at         time.Time
}

// recentPublications remembers what this node accepted within
// republishWindow, oldest first from head. Forgetting moves head; the
// slice is compacted once head passes its middle, so a publication costs
// a constant amount of work.
type recentPublications struct {
	mu   sync.Mutex
	pubs []recentPublication
	head int
}

// note remembers a channel publication or a broadcast, and forgets those
// that are too old. A nil r (a broker that reports no breaks, so nothing
// is republished) remembers nothing.
func (r *recentPublications) note(name string, msg *message.Message) {
	r.add(recentPublication{name: name, msg: msg})
}

// noteUser remembers a message sent to a user, as note does.
func (r *recentPublications) noteUser(userID string, msg *message.Message) {
	r.add(recentPublication{user: userID, msg: msg})
}

func (r *recentPublications) add(p recentPublication) {
	if r == nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.head < len(r.pubs) && (now.Sub(r.pubs[r.head].at) > republishWindow || len(r.pubs)-r.head >= maxRecent) {
		r.pubs[r.head] = recentPublication{} // the message can go
		r.head++
	}
	if r.head > len(r.pubs)/2 {
		n := copy(r.pubs, r.pubs[r.head:])
		clear(r.pubs[n:])
		r.pubs, r.head = r.pubs[:n], 0
	}
	p.at = now
	r.pubs = append(r.pubs, p)
}

// before returns, oldest first, what was accepted within republishWindow
// before t.
func (r *recentPublications) before(t time.Time) []recentPublication {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recentPublication
	for _, p := range r.pubs[r.head:] {
		if !p.at.Before(t.Add(-republishWindow)) && !p.at.After(t) {
			out = append(out, p)
		}
	}
	return out
}

// readEpoch reads the store's epoch once the node starts, so that the
// first break can be compared with it. A store that does not answer now
// leaves it unknown: that break then republishes no user messages.
func (h *Hub) readEpoch(ctx context.Context) {
	if h.cfg.StoreEpoch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, gapFillWait)
	defer cancel()
	epoch, err := h.cfg.StoreEpoch(ctx)
	if err != nil {
		h.log.Error(err, "the store's epoch is unknown until the broker's first break")
		return
	}
	h.gap.mu.Lock()
	if h.gap.epoch == nil {
		h.gap.epoch = epoch
	}
	h.gap.mu.Unlock()
}

// storeLostData reads the store's epoch and reports whether it changed
// since it was last read. The new epoch is for keepEpoch, once what the
// change calls for is done.
func (h *Hub) storeLostData(ctx context.Context) (epoch map[string]string, lost bool, err error) {
	if h.cfg.StoreEpoch == nil {
		return nil, false, nil
	}
	epoch, err = h.cfg.StoreEpoch(ctx)
	if err != nil {
		return nil, false, err
	}
	h.gap.mu.Lock()
	defer h.gap.mu.Unlock()
	return epoch, epochLost(h.gap.epoch, epoch), nil
}

// epochLost reports whether the store lost data between the epochs
// before and after: a part named in both changed.
func epochLost(before, after map[string]string) bool {
	for part, v := range before {
		if w, ok := after[part]; ok && w != v {
			return true
		}
	}
	return false
}

func (h *Hub) keepEpoch(epoch map[string]string) {
	if epoch == nil {
		return
	}
	h.gap.mu.Lock()
	h.gap.epoch = epoch
	h.gap.mu.Unlock()
}

// republishLost records and publishes again what this node accepted just
// before the break at since and the store no longer holds. It returns how
// many it republished.
func (h *Hub) republishLost(ctx context.Context, since time.Time) (int, error) {
	epoch, storeLost, err := h.storeLostData(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range h.recent.before(since) {
		if p.user != "" {
			if !storeLost {
				continue
			}
			again, err := h.requeueLost(ctx, p.user, p.msg)
			if err != nil {
				return n, err
			}
			if again {
				n++
			}
			continue
		}
		size, ttl, ok := h.historyBounds(p.name)
		if !ok {
			continue
		}
		if _, kept, err := h.cfg.History.Since(ctx, p.name, p.msg.ID, ttl); err != nil {
			return n, err
		} else if kept {
			continue
		}
		if err := h.cfg.History.Append(ctx, p.name, p.msg, size, ttl); err != nil {
			return n, err
		}
		topic := topicChannelPrefix + p.name
		if p.name == broadcastHistory {
			topic = topicBroadcast
		}
		again := *p.msg
		again.Republished = true
		if _, err := h.publish(ctx, topic, &again); err != nil {
			return n, err
		}
		n++
	}
	h.keepEpoch(epoch)
	return n, nil
}

// requeueLost queues and publishes again a message sent to a user before
// the store lost its data, unless the queue holds it (a retried fill
// queued it already). It reports whether it did.
func (h *Hub) requeueLost(ctx context.Context, userID string, msg *message.Message) (bool, error) {
	queued, _, err := h.cfg.Queue.Peek(ctx, userID, replayLimit)
	if err != nil {
		return false, err
	}
	for _, m := range queued {
		if m.ID == msg.ID {
			return false, nil
		}
	}
	if err := h.enqueueOffline(ctx, userID, msg); err != nil {
		return false, err
	}
	if _, _, err := h.publishToUser(ctx, userID, msg); err != nil {
		return false, err
	}
	return true, nil
}

// holds reports whether r remembers the publication id on name.
func (r *recentPublications) holds(name, id string) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pubs[r.head:] {
		if p.name == name && p.msg.ID == id {
			return true
		}
	}
	return false
}

// staleRepublished reports whether a republished publication is one this
// node delivered before the break: it remembers delivering it, or it is
// older than the last one it had delivered there when the break began.
// What it delivered since does not count: the gap fill, or this node's
// own API, may have delivered newer publications before another node
// published this one again. Two publications can carry the same timestamp
// (a millisecond's), so one stamped like the last one delivered is stale
// only if it is that one.
func (h *Hub) staleRepublished(name string, m *message.Message) bool {
	if !m.Republished {
		return false
	}
	if h.delivered.holds(name, m.ID) {
		return true
	}
	h.gap.mu.Lock()
	atBreak := h.gap.atBreak // replaced at each break, never changed
	h.gap.mu.Unlock()
	var mark channelMark
	if atBreak != nil {
		// The zero mark when nothing was delivered there before it.
		mark = atBreak[name]
	} else {
		// No break seen here: all it delivered came before.
		mark = h.currentMark(name)
	}
	return mark.lastAt != "" && (m.Timestamp < mark.lastAt || m.ID == mark.last)
}

// currentMark returns the channel's mark, or the broadcasts'.
func (h *Hub) currentMark(name string) channelMark {
	if name == broadcastHistory {
		return h.gap.broadcastMark()
	}
	sh := h.chanShard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.marks[name]
}
