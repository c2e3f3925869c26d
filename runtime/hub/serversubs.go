package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// Server-side subscriptions: a backend subscribes a user to channels
// (POST /ws/subscribe/:userId) or unsubscribes them. The order reaches
// every node on the control topic, and each node applies it to the
// user's connections there, telling each with a subscribed or
// unsubscribed event; the channel rules still apply, per connection. The
// store remembers a subscription for ServerSubTTL, so the user's next
// connections are subscribed at connect too.

// topicControl carries orders every node applies to its own connections.
const topicControl = "ctl"

// Control orders, as the type of a message on topicControl; both are
// reserved, so no application message has them.
const (
	controlSubscribe   = "subscribe"
	controlUnsubscribe = "unsubscribe"
)

// DefaultServerSubTTL is how long a server-side subscription is
// remembered for the user's next connections.
const DefaultServerSubTTL = time.Hour

type controlOrder struct {
	UserID   string   `json:"userId"`
	Channels []string `json:"channels"`
}

// SubscribedData is the data of the subscribed event.
type SubscribedData struct {
	Channels []string        `json:"channels"`
	Refused  []ChannelResult `json:"refused,omitempty"`
}

// UnsubscribedData is the data of the unsubscribed event.
type UnsubscribedData struct {
	Channels []string `json:"channels"`
}

// SubscribeUser subscribes every live connection of the user, on every
// node, to channels, and remembers them for the user's next connections
// until the returned time.
func (h *Hub) SubscribeUser(ctx context.Context, userID string, channels []string) (time.Time, error) {
	until := time.Now().Add(h.cfg.ServerSubTTL)
	if err := h.cfg.ServerSubs.Add(ctx, userID, channels, h.cfg.ServerSubTTL); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return until, h.sendControl(ctx, controlSubscribe, userID, channels)
}

// UnsubscribeUser unsubscribes every live connection of the user, on
// every node, from channels, and forgets them.
func (h *Hub) UnsubscribeUser(ctx context.Context, userID string, channels []string) error {
	if err := h.cfg.ServerSubs.Remove(ctx, userID, channels); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return h.sendControl(ctx, controlUnsubscribe, userID, channels)
}

func (h *Hub) sendControl(ctx context.Context, kind, userID string, channels []string) error {
	payload, err := json.Marshal(controlOrder{UserID: userID, Channels: channels})
	if err != nil {
		return err
	}
	if _, err := h.publish(ctx, topicControl, message.New(kind, payload, message.PriorityNormal)); err != nil {
		return fmt.Errorf("%w: while sending the %s order: %w", ErrUnavailable, kind, err)
	}
	return nil
}

// controlQueue bounds the orders waiting for the control worker; past it
// the broker's delivery waits.
const controlQueue = 1024

// startControl starts the worker that carries out control orders, one at
// a time and in the order they came: off the broker's receive goroutine,
// whose every other delivery would otherwise wait for an order's store
// calls and broker confirmation.
func (h *Hub) startControl() {
	h.control = make(chan *message.Message, controlQueue)
	h.spawn(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-h.control:
				h.applyControl(ctx, msg)
			}
		}
	})
}

// queueControl hands an order to the control worker.
func (h *Hub) queueControl(msg *message.Message) {
	select {
	case h.control <- msg:
	case <-h.ctx.Done():
	}
}

// applyControl carries out an order on this node's connections of its
// user.
func (h *Hub) applyControl(ctx context.Context, msg *message.Message) {
	var o controlOrder
	if err := json.Unmarshal(msg.Payload, &o); err != nil || o.UserID == "" {
		h.log.Info("control order dropped: unreadable", "messageId", msg.ID)
		return
	}
	var subscribed []*Session
	var events []SubscribedData
	for _, s := range h.sessionsOf(o.UserID) {
		switch msg.Type {
		case controlSubscribe:
			if data, ok := s.serverSubscribe(o.Channels); ok {
				subscribed, events = append(subscribed, s), append(events, data)
			}
		case controlUnsubscribe:
			var gone []string
			for _, ch := range o.Channels {
				if s.unsubscribe(ch) {
					gone = append(gone, ch)
				}
			}
			if len(gone) > 0 {
				s.saveRecovery(ctx)
				s.sendEvent("unsubscribed", UnsubscribedData{Channels: gone})
			}
		}
	}
	if len(subscribed) == 0 {
		return
	}
	// The event means the subscription is live across the fleet, as a
	// subscribe's ack does.
	h.syncBroker(ctx)
	for i, s := range subscribed {
		s.sendEvent("subscribed", events[i])
	}
}

// syncBroker waits, at most brokerSyncWait, until the broker confirms this
// node's subscriptions.
func (h *Hub) syncBroker(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, brokerSyncWait)
	defer cancel()
	if err := h.cfg.Broker.Sync(ctx); err != nil {
		h.log.Error(err, "broker subscription not confirmed")
	}
}

// serverSubscribe subscribes the session to channels the rules allow it,
// and returns what to tell it: which, and those refused. Channels it
// already has are left out; ok is false when there is nothing to tell.
func (s *Session) serverSubscribe(channels []string) (data SubscribedData, ok bool) {
	for _, ch := range channels {
		if s.subscribedTo(ch) {
			continue
		}
		if err := s.subscribe(ch); err != nil {
			data.Refused = append(data.Refused, ChannelResult{Channel: ch, Error: err})
			continue
		}
		data.Channels = append(data.Channels, ch)
	}
	if len(data.Channels) == 0 && len(data.Refused) == 0 {
		return data, false
	}
	if data.Channels == nil {
		data.Channels = []string{}
	}
	s.saveRecovery(s.hub.ctx)
	return data, true
}

// subscribeRemembered subscribes a new connection to its user's
// remembered server-side subscriptions.
func (s *Session) subscribeRemembered(ctx context.Context) {
	channels, err := s.hub.cfg.ServerSubs.List(ctx, s.userID)
	if err != nil {
		s.hub.log.Error(err, "server-side subscriptions not read; the connection starts without them", "userId", s.userID)
		return
	}
	if data, ok := s.serverSubscribe(channels); ok {
		s.hub.syncBroker(ctx)
		s.sendEvent("subscribed", data)
	}
}

// unsubscribe removes ch from the session's channels and reports whether
// it had it.
func (s *Session) unsubscribe(ch string) bool {
	s.mu.Lock()
	i := slices.Index(s.channels, ch)
	had := i >= 0
	if had {
		s.channels = slices.Delete(s.channels, i, i+1)
	}
	s.mu.Unlock()
	if had {
		s.hub.cfg.Metrics.Subscriptions.Dec()
		s.hub.unsubscribeChannel(s, ch)
		s.hub.leavePresence(s, ch)
	}
	return had
}
