package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Status of a send.
const (
	StatusDelivered     = "delivered"      // handed to a node holding the user's connections
	StatusQueued        = "queued"         // stored in the user's offline queue
	StatusNoSubscribers = "no_subscribers" // a channel publish nobody was subscribed to
)

// Delivery reports what happened to one sent message.
type Delivery struct {
	MessageID string `json:"messageId"`
	Status    string `json:"status"`
}

// receipt records what local delivery did with one message.
type receipt struct {
	seen     atomic.Bool
	accepted atomic.Int32
}

// SendToUser delivers msg to every connection of the user, or queues it
// when the user has none. The answer says which happened; when delivery
// ran on this node during the call, it is exact.
func (h *Hub) SendToUser(ctx context.Context, userID string, msg *message.Message) (Delivery, error) {
	d, err := h.sendToUser(ctx, userID, msg)
	if err == nil {
		h.deliveries.add(DeliveryRecord{At: time.Now().UTC(), UserID: userID, MessageID: msg.ID, Type: msg.Type,
			Priority: string(msg.Priority), Status: d.Status})
	}
	return d, err
}

func (h *Hub) sendToUser(ctx context.Context, userID string, msg *message.Message) (Delivery, error) {
	if h.cfg.DurableUserMessages {
		return h.sendDurable(ctx, userID, msg)
	}
	delivered, handled, err := h.publishToUser(ctx, userID, msg)
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !handled {
		if err := h.enqueueOffline(ctx, userID, msg); err != nil {
			return Delivery{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	// A handled message that no connection took was queued by the node
	// that handled it (the user had just left).
	return delivery(msg, delivered), nil
}

// sendDurable queues msg first, then publishes it. The answer says
// whether a connection took it live; either way it stays queued until a
// connection has it (see Config.DurableUserMessages).
func (h *Hub) sendDurable(ctx context.Context, userID string, msg *message.Message) (Delivery, error) {
	if err := h.enqueueOffline(ctx, userID, msg); err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	h.recent.noteUser(userID, msg)
	delivered, _, err := h.publishToUser(ctx, userID, msg)
	if err != nil {
		// Stored, so not lost: it waits for the user's next connect.
		h.log.Error(err, "live publish failed; the message stays queued", "userId", userID, "messageId", msg.ID)
	}
	return delivery(msg, delivered), nil
}

// publishToUser publishes msg on the user's topic. delivered says whether
// a connection took it: exactly, from a receipt, when local delivery ran
// during the call, else from the broker's receiver count. handled says
// whether any node dealt with it at all.
func (h *Hub) publishToUser(ctx context.Context, userID string, msg *message.Message) (delivered, handled bool, err error) {
	r := &receipt{}
	h.receipts.Store(msg.ID, r)
	n, err := h.publish(ctx, topicUserPrefix+userID, msg)
	h.receipts.Delete(msg.ID)
	if err != nil {
		return false, false, fmt.Errorf("while publishing to user %s: %w", userID, err)
	}
	if r.seen.Load() {
		return r.accepted.Load() > 0, true, nil
	}
	return n > 0, n > 0, nil
}

func delivery(msg *message.Message, delivered bool) Delivery {
	if delivered {
		return Delivery{MessageID: msg.ID, Status: StatusDelivered}
	}
	return Delivery{MessageID: msg.ID, Status: StatusQueued}
}

// publish hands msg to the broker and times it.
func (h *Hub) publish(ctx context.Context, topic string, msg *message.Message) (int, error) {
	start := time.Now()
	n, err := h.cfg.Broker.Publish(ctx, topic, msg)
	h.cfg.Metrics.BrokerPublish.Observe(time.Since(start).Seconds())
	return n, err
}

// removeWait bounds taking one delivered message out of the queue.
const removeWait = 5 * time.Second

// removeDelivered takes a message that reached a connection out of the
// user's queue, off the writer's goroutine. The removal is not cut short
// by Shutdown (which waits for it, at most removeWait): a cut one would
// deliver the message again on the next connect.
func (h *Hub) removeDelivered(userID, id string) {
	started := h.spawn(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeWait)
		defer cancel()
		if _, err := h.cfg.Queue.Remove(ctx, userID, []string{id}); err != nil {
			h.log.Error(err, "delivered message could not leave the queue; it will come again", "userId", userID, "messageId", id)
		}
	})
	if !started {
		h.log.Info("hub stopped; a delivered message stays queued and will come again", "userId", userID, "messageId", id)
	}
}

// Publish delivers msg to the subscribers of a channel.
//
// The publication is recorded in the channel's history first, so that a
// node whose broker subscription was down finds it there (see gaps.go);
// if it cannot be recorded, nothing is delivered and the error wraps
// ErrUnavailable. This node's own subscribers get it at once, without the
// broker's round trip. An error from the broker also wraps
// ErrUnavailable; this node's subscribers may have had it by then.
func (h *Hub) Publish(ctx context.Context, ch string, msg *message.Message) (Delivery, error) {
	msg.Channel = ch
	if size, ttl, ok := h.cfg.Policy.HistoryFor(ch); ok {
		if err := h.cfg.History.Append(ctx, ch, msg, size, ttl); err != nil {
			return Delivery{}, fmt.Errorf("%w: channel history of %s not recorded: %w", ErrUnavailable, ch, err)
		}
		h.recent.note(ch, msg)
	}
	msg.Origin = h.id
	local := h.deliverLocalChannel(ch, newOutbound(msg))
	n, err := h.publish(ctx, topicChannelPrefix+ch, msg)
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: while publishing to channel %s: %w", ErrUnavailable, ch, err)
	}
	d := Delivery{MessageID: msg.ID, Status: StatusDelivered}
	if n == 0 && local == 0 {
		d.Status = StatusNoSubscribers
	}
	return d, nil
}

// ErrUnavailable is wrapped by the errors of a Publish that a store or the
// broker could not take: the caller may retry.
var ErrUnavailable = errors.New("a store is unavailable")

// deliverLocalChannel hands a publication of this node's own API to the
// channel's local subscribers (or holds it, see gaps.go), and returns how
// many there are.
func (h *Hub) deliverLocalChannel(ch string, out *outbound) int {
	if !h.hold(heldPublication{channel: ch, out: out}) {
		return h.deliverChannel(ch, out)
	}
	sh := h.chanShard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.chans[ch])
}

// Broadcast delivers msg to every connection on every node. As Publish
// does for a channel, it records msg first (in the broadcasts' history,
// kept by the default history bounds) and delivers to this node's
// connections without the broker's round trip.
func (h *Hub) Broadcast(ctx context.Context, msg *message.Message) (Delivery, error) {
	if size, ttl, ok := h.historyBounds(broadcastHistory); ok {
		if err := h.cfg.History.Append(ctx, broadcastHistory, msg, size, ttl); err != nil {
			return Delivery{}, fmt.Errorf("%w: broadcast not recorded: %w", ErrUnavailable, err)
		}
		h.recent.note(broadcastHistory, msg)
	}
	msg.Origin = h.id
	if out := newOutbound(msg); !h.hold(heldPublication{channel: broadcastHistory, out: out}) {
		h.deliverAll(out)
	}
	if _, err := h.publish(ctx, topicBroadcast, msg); err != nil {
		return Delivery{}, fmt.Errorf("%w: while broadcasting: %w", ErrUnavailable, err)
	}
	return Delivery{MessageID: msg.ID, Status: StatusDelivered}, nil
}

func (h *Hub) enqueueOffline(ctx context.Context, userID string, msg *message.Message) error {
	dropped, err := h.cfg.Queue.Push(ctx, userID, msg)
	if err != nil {
		return fmt.Errorf("while queueing for user %s: %w", userID, err)
	}
	h.cfg.Metrics.MessagesQueued.Inc()
	if dropped != nil {
		h.log.Info("offline queue full, dropped the oldest lowest-priority message",
			"userId", userID, "droppedId", dropped.ID, "droppedPriority", dropped.Priority)
	}
	return nil
}

// requeue puts a message that could not be written back in the user's
// offline queue; failures are logged because the caller cannot retry.
func (h *Hub) requeue(userID string, msg *message.Message) {
	if err := h.enqueueOffline(context.Background(), userID, msg); err != nil {
		h.log.Error(err, "undelivered message could not be queued", "userId", userID, "messageId", msg.ID)
	}
}

// dispatch is the broker handler: it delivers a publication to the local
// sessions interested in its topic.
func (h *Hub) dispatch(topic string, msg *message.Message) {
	if topic == topicControl {
		h.queueControl(msg)
		return
	}
	if ch, ok := joinLeaveTopic(topic); ok {
		h.deliverJoinLeave(ch, msg)
		return
	}
	if h.alreadyFilled(msg) {
		return // a gap fill delivered it from history or the queue
	}
	out := newOutbound(msg)
	switch {
	case topic == topicBroadcast:
		if msg.Origin == h.id || h.staleRepublished(broadcastHistory, msg) {
			return // delivered by Broadcast already, or before the break
		}
		if !h.hold(heldPublication{channel: broadcastHistory, out: out}) {
			h.deliverAll(out)
		}
	case len(topic) > len(topicUserPrefix) && topic[:len(topicUserPrefix)] == topicUserPrefix:
		user := topic[len(topicUserPrefix):]
		if !h.hold(heldPublication{user: user, out: out}) {
			h.deliverUser(user, out)
		}
	case len(topic) > len(topicChannelPrefix) && topic[:len(topicChannelPrefix)] == topicChannelPrefix:
		name := topic[len(topicChannelPrefix):]
		if msg.Origin == h.id || h.staleRepublished(name, msg) {
			return // delivered by Publish already, or before the break
		}
		if !h.hold(heldPublication{channel: name, out: out}) && h.deliverChannel(name, out) == 0 {
			h.cfg.Metrics.BrokerUnrouted.Inc()
		}
	default:
		h.log.Info("publication on an unknown topic dropped", "topic", topic, "messageId", msg.ID)
	}
}

// deliverUser hands out to each of the user's sessions. If none accepts it
// (the user just disconnected), the message goes to the offline queue, so
// a message addressed to a user is never silently lost.
func (h *Hub) deliverUser(userID string, out *outbound) {
	sessions := h.sessionsOf(userID)
	accepted := 0
	for _, sess := range sessions {
		if sess.deliver(out, true) {
			accepted++
		}
	}
	if len(sessions) == 0 {
		h.cfg.Metrics.BrokerUnrouted.Inc()
	}
	if accepted > 0 {
		h.delivered.noteUser(userID, out.msg)
	}
	if v, ok := h.receipts.Load(out.msg.ID); ok {
		r := v.(*receipt)
		r.accepted.Add(int32(accepted))
		r.seen.Store(true)
	}
	if accepted == 0 && !h.cfg.DurableUserMessages {
		h.requeue(userID, out.msg)
	}
}

// deliverChannel delivers to the channel's local subscribers and returns
// how many there are. A large fan-out finishes after it returns
// (fanout.go).
func (h *Hub) deliverChannel(name string, out *outbound) int {
	s := h.chanShard(name)
	s.mu.Lock()
	subs := make([]*Session, 0, len(s.chans[name]))
	for sess := range s.chans[name] {
		subs = append(subs, sess)
	}
	if m, ok := s.marks[name]; ok {
		m.last, m.lastAt = out.msg.ID, out.msg.Timestamp
		s.marks[name] = m
	}
	s.mu.Unlock()
	h.delivered.note(name, out.msg)
	h.deliverToSubscribers(name, subs, out)
	return len(subs)
}

func (h *Hub) deliverAll(out *outbound) {
	h.gap.markBroadcast(out.msg)
	h.delivered.note(broadcastHistory, out.msg)
	h.eachSession(func(s *Session) { s.deliver(out, false) })
}

// UserStatus is what GET /ws/status/:userId returns.
type UserStatus struct {
	UserID      string   `json:"userId"`
	Online      bool     `json:"online"`
	Connections int      `json:"connections"`
	Channels    []string `json:"channels"`
}

// Status returns the user's presence and the channels its connections on
// this node are subscribed to.
func (h *Hub) Status(ctx context.Context, userID string) (UserStatus, error) {
	info, err := h.cfg.Presence.Get(ctx, userID)
	if err != nil {
		return UserStatus{}, fmt.Errorf("while reading presence of %s: %w", userID, err)
	}
	st := UserStatus{UserID: userID, Online: info.Online, Connections: info.Connections, Channels: []string{}}
	seen := map[string]bool{}
	for _, sess := range h.sessionsOf(userID) {
		for _, ch := range sess.channelList() {
			if !seen[ch] {
				seen[ch] = true
				st.Channels = append(st.Channels, ch)
			}
		}
	}
	sort.Strings(st.Channels)
	return st, nil
}

// RevokeToken closes the local sessions authenticated with token id jti.
// It returns how many it closed.
func (h *Hub) RevokeToken(jti string) int {
	n := 0
	h.eachSession(func(s *Session) {
		if s.Claims().ID == jti {
			s.close(closeTokenRevoked)
			n++
		}
	})
	return n
}

// sessionsOf returns a copy of the user's sessions on this node, so the
// caller can use them without the shard lock.
func (h *Hub) sessionsOf(userID string) []*Session {
	sh := h.userShard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]*Session(nil), sh.users[userID]...)
}

// eachSession calls fn for every session, one shard at a time, with no
// lock held during fn.
func (h *Hub) eachSession(fn func(*Session)) {
	var batch []*Session
	for i := range h.users {
		s := &h.users[i]
		s.mu.Lock()
		batch = batch[:0]
		for _, sessions := range s.users {
			batch = append(batch, sessions...)
		}
		s.mu.Unlock()
		for _, sess := range batch {
			fn(sess)
		}
	}
}
