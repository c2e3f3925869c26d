package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// Channel gaps. A node gets the publications of its channels through its
// broker subscription. While that subscription is down (Redis restarted,
// a network cut), publications made through other nodes do not reach it.
// A broker that can tell (broker.Watcher) reports the break and the
// return. In between, the hub holds the channel publications it is given;
// on the return it reads each locally subscribed channel's history from
// the last publication it delivered there, delivers what is missing, then
// what it held, skipping what it has just delivered. Clients get every
// publication that reached the history, in order, once.
//
// Publications accepted by this node's own API do not depend on the
// broker at all: Publish delivers them here at once, and the node skips
// the copy the broker brings back (message.Message.Origin).

// channelMark is what the gap fill needs to know of a channel this node
// delivers.
type channelMark struct {
	last    string    // id of the last publication delivered here
	lastAt  string    // and its timestamp
	joined  time.Time // when the channel's first local subscriber joined
	history bool      // the channel keeps history
}

// gapState holds channel publications while the broker's subscription is
// down.
type gapState struct {
	mu      sync.Mutex
	gen     uint64 // counts breaks and returns; a fill belongs to one
	holding bool
	since   time.Time // when the subscription broke
	held    []heldPublication
	// epoch is the store's epoch (Config.StoreEpoch) as last read: nil
	// until then.
	epoch map[string]string
	// atBreak holds, from the first break on, what this node had
	// delivered when the last break began: each channel's mark, and the
	// broadcasts' under broadcastHistory. A republished publication is
	// compared with it (staleRepublished): what the node delivered since,
	// through the gap fill or locally, says nothing of what it had before.
	atBreak map[string]channelMark

	bmu        sync.Mutex
	broadcasts channelMark // the broadcasts' mark

	// filled holds the ids the last fill delivered, until filledUntil: a
	// publication made after the subscription came back but before the
	// fill read the history arrives live too, after the fill.
	filled      map[string]bool
	filledUntil time.Time
}

// gapDedupWindow is how long a fill's ids are remembered; the live copies
// it guards against arrive within moments.
const gapDedupWindow = 10 * time.Second

// broadcastHistory names the broadcasts' history. It is not a valid
// channel name, so no channel shares it.
const broadcastHistory = "$broadcast"

func (g *gapState) markBroadcast(m *message.Message) {
	g.bmu.Lock()
	g.broadcasts.last, g.broadcasts.lastAt = m.ID, m.Timestamp
	g.bmu.Unlock()
}

func (g *gapState) broadcastMark() channelMark {
	g.bmu.Lock()
	defer g.bmu.Unlock()
	return g.broadcasts
}

// heldPublication is a channel publication, a broadcast (channel is
// broadcastHistory) or a message to a user (user is set).
type heldPublication struct {
	channel string
	user    string
	out     *outbound
}

// maxHeld bounds what a hold keeps. Past it, publications are delivered
// at once: the node may then deliver out of order, but it keeps its
// memory.
const maxHeld = 100_000

// gapFillWait bounds one attempt to read the gaps.
const gapFillWait = 10 * time.Second

// watchBroker asks the broker, if it can tell, to report its breaks.
func (h *Hub) watchBroker() {
	if w, ok := h.cfg.Broker.(broker.Watcher); ok {
		h.recent, h.delivered = &recentPublications{}, &recentPublications{}
		w.Watch(h.brokerLost, h.brokerRestored)
		h.spawn(h.readEpoch)
	}
}

func (h *Hub) brokerLost() {
	marks := h.channelMarks()
	marks[broadcastHistory] = h.gap.broadcastMark()
	h.gap.mu.Lock()
	if !h.gap.holding {
		h.gap.since = time.Now()
		h.gap.atBreak = marks
	}
	h.gap.gen++ // a fill of an earlier break in progress gives way
	h.gap.holding = true
	h.gap.mu.Unlock()
	h.holding.Store(true)
	h.log.Info("broker subscription lost; holding channel publications until it is back")
}

// brokerRestored starts filling the gaps. Publications stay held until the
// fill is done, however long the stores take to answer again.
func (h *Hub) brokerRestored() {
	h.gap.mu.Lock()
	h.gap.gen++
	gen := h.gap.gen
	h.gap.mu.Unlock()
	h.spawn(func(ctx context.Context) { h.fillGaps(ctx, gen) })
}

// fillGaps reads what was missed, then delivers it and what was held,
// unless a newer break started meanwhile (its own fill takes over).
func (h *Hub) fillGaps(ctx context.Context, gen uint64) {
	found, ok := h.readGaps(ctx, gen)
	if !ok {
		return
	}
	h.gap.mu.Lock()
	defer h.gap.mu.Unlock()
	if h.gap.gen != gen {
		return
	}
	// The user messages delivered just before the break may come again:
	// from a queue they had not left yet, or published again after the
	// store lost its data (republish.go). They are not delivered twice.
	filled := make(map[string]bool, len(found))
	for _, p := range h.delivered.before(h.gap.since) {
		filled[p.msg.ID] = true
	}
	missed := 0
	for _, p := range found {
		if !filled[p.out.msg.ID] {
			filled[p.out.msg.ID] = true
			h.deliverHeld(p)
			missed++
		}
	}
	held := h.gap.held
	h.gap.held, h.gap.holding = nil, false
	h.gap.filled, h.gap.filledUntil = filled, time.Now().Add(gapDedupWindow)
	h.dedup.Store(len(filled) > 0)
	h.holding.Store(false)
	for _, p := range held {
		if !filled[p.out.msg.ID] {
			h.deliverHeld(p)
		}
	}
	h.cfg.Metrics.GapFilled.Add(float64(missed))
	h.log.Info("broker subscription back; gaps filled", "missed", missed, "held", len(held))
}

// readGaps reads every local channel's, the broadcasts' and the local
// users' missed publications, in delivery order. A store that fails is
// tried again until it answers: ok is false only when the hub stops or a
// newer break starts.
func (h *Hub) readGaps(ctx context.Context, gen uint64) (found []heldPublication, ok bool) {
	delay := gapRetryDelay
	for {
		found, err := h.readGapsOnce(ctx)
		if err == nil {
			return found, true
		}
		h.log.Error(err, "gaps not read yet; trying again", "in", delay)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(delay):
		}
		delay = min(2*delay, maxGapRetryDelay)
		h.gap.mu.Lock()
		stale := h.gap.gen != gen
		h.gap.mu.Unlock()
		if stale {
			return nil, false
		}
	}
}

// gapRetryDelay and maxGapRetryDelay space the attempts to read the gaps.
const (
	gapRetryDelay    = 100 * time.Millisecond
	maxGapRetryDelay = 2 * time.Second
)

func (h *Hub) readGapsOnce(ctx context.Context) ([]heldPublication, error) {
	ctx, cancel := context.WithTimeout(ctx, gapFillWait)
	defer cancel()
	h.gap.mu.Lock()
	since := h.gap.since
	h.gap.mu.Unlock()
	// This node's own last publications first, in case the store lost
	// them (see republish.go); a retry finds those it has done recorded.
	if n, err := h.republishLost(ctx, since); err != nil {
		return nil, fmt.Errorf("republishing: %w", err)
	} else if n > 0 {
		h.cfg.Metrics.Republished.Add(float64(n))
		h.log.Info("publications the store had lost recorded and published again", "count", n)
	}
	marks := h.channelMarks()
	if _, _, ok := h.historyBounds(broadcastHistory); ok {
		marks[broadcastHistory] = h.gap.broadcastMark()
	}
	var found []heldPublication
	for name, mark := range marks {
		msgs, err := h.missed(ctx, name, mark)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		for _, m := range msgs {
			found = append(found, heldPublication{channel: name, out: newOutbound(m)})
		}
	}
	users, err := h.missedByUsers(ctx)
	if err != nil {
		return nil, err
	}
	return append(found, users...), nil
}

// deliverHeld delivers a publication the gap fill found or held.
func (h *Hub) deliverHeld(p heldPublication) {
	switch {
	case p.user != "":
		h.deliverUser(p.user, p.out)
	case p.channel == broadcastHistory:
		h.deliverAll(p.out)
	default:
		h.deliverChannel(p.channel, p.out)
	}
}

// missed returns the channel's publications this node has not delivered,
// in publication order: those after the last it delivered, and those
// stamped after it that the history holds before it, which a node that
// republished them (republish.go) recorded late. When the last one it
// delivered has left the history, or there was none, those stamped since
// it, or since the channel's first local subscriber joined.
func (h *Hub) missed(ctx context.Context, name string, mark channelMark) ([]*message.Message, error) {
	_, ttl, _ := h.historyBounds(name)
	all, err := h.cfg.History.Recent(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	from := mark.lastAt
	if from == "" {
		from = mark.joined.UTC().Format(message.TimestampFormat)
	}
	at := -1
	if mark.last != "" {
		at = slices.IndexFunc(all, func(m *message.Message) bool { return m.ID == mark.last })
	}
	var out []*message.Message
	late := false
	for i, m := range all {
		switch {
		case at >= 0 && i > at, // after the last delivered
			at < 0 && m.ID != mark.last && m.Timestamp >= from:
			out = append(out, m)
		case at >= 0 && i < at && m.Timestamp > from: // recorded late
			out = append(out, m)
			late = true
		}
	}
	if late {
		// History order no longer is publication order; timestamps are.
		slices.SortStableFunc(out, func(a, b *message.Message) int { return strings.Compare(a.Timestamp, b.Timestamp) })
	}
	return out, nil
}

// channelMarks copies the marks of the channels with local subscribers
// that keep history.
func (h *Hub) channelMarks() map[string]channelMark {
	marks := map[string]channelMark{}
	for i := range h.chans {
		sh := &h.chans[i]
		sh.mu.Lock()
		for name, m := range sh.marks {
			if m.history {
				marks[name] = m
			}
		}
		sh.mu.Unlock()
	}
	return marks
}

// alreadyFilled reports whether the last gap fill delivered the message,
// whose live copy is then dropped.
func (h *Hub) alreadyFilled(m *message.Message) bool {
	if !h.dedup.Load() {
		return false
	}
	h.gap.mu.Lock()
	defer h.gap.mu.Unlock()
	if time.Now().After(h.gap.filledUntil) {
		h.gap.filled = nil
		h.dedup.Store(false)
		return false
	}
	return h.gap.filled[m.ID]
}

// hold keeps a channel publication while the broker's subscription is
// down, and reports whether it did.
func (h *Hub) hold(p heldPublication) bool {
	if !h.holding.Load() {
		return false
	}
	// Only what a fill can find again is held: a publication kept in a
	// history, or a message kept in its user's queue.
	if p.user != "" && !h.cfg.DurableUserMessages {
		return false
	}
	if _, _, kept := h.historyBounds(p.channel); p.user == "" && !kept {
		return false
	}
	h.gap.mu.Lock()
	defer h.gap.mu.Unlock()
	if !h.gap.holding || len(h.gap.held) >= maxHeld {
		return false
	}
	h.gap.held = append(h.gap.held, p)
	return true
}

// historyBounds are the bounds of a channel's history, or of the
// broadcasts' (broadcastHistory), which keep the default ones.
func (h *Hub) historyBounds(name string) (size int, ttl time.Duration, ok bool) {
	if name == broadcastHistory {
		return h.cfg.Policy.DefaultHistoryBounds()
	}
	return h.cfg.Policy.HistoryFor(name)
}

// userGapMargin reaches back before the break for user messages, whose
// timestamps come from other nodes' clocks.
const userGapMargin = time.Second

// missedByUsers returns, for this node's users, the messages queued for
// them since the subscription broke. Those are kept in the queue until a
// connection has them (Config.DurableUserMessages), so a message sent to a
// user here while the broker could not carry it is still there. One this
// node delivered just before the break, not yet taken out of the queue,
// is skipped by fillGaps.
func (h *Hub) missedByUsers(ctx context.Context) ([]heldPublication, error) {
	if !h.cfg.DurableUserMessages {
		return nil, nil
	}
	h.gap.mu.Lock()
	from := h.gap.since.Add(-userGapMargin).UTC().Format(message.TimestampFormat)
	h.gap.mu.Unlock()
	var found []heldPublication
	for _, user := range h.localUsers() {
		msgs, _, err := h.cfg.Queue.Peek(ctx, user, replayLimit)
		if err != nil {
			return nil, fmt.Errorf("queue of %s: %w", user, err)
		}
		for _, m := range msgs {
			if m.Timestamp >= from {
				found = append(found, heldPublication{user: user, out: newOutbound(m)})
			}
		}
	}
	return found, nil
}

// localUsers lists the users with a session on this node.
func (h *Hub) localUsers() []string {
	var users []string
	for i := range h.users {
		sh := &h.users[i]
		sh.mu.Lock()
		for u := range sh.users {
			users = append(users, u)
		}
		sh.mu.Unlock()
	}
	return users
}

// newNodeID names this node in the publications it delivers itself.
func newNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
