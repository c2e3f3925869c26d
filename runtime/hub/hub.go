package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/presence"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// Config configures a Hub. Zero values mean the documented defaults; nil
// dependencies get their in-memory implementations.
type Config struct {
	// HeartbeatInterval is how often the server pings each connection.
	// Default 25s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout closes a connection that sent nothing (not even a
	// pong) for this long. It must exceed HeartbeatInterval so that one
	// lost pong is not fatal. Default 60s.
	HeartbeatTimeout time.Duration
	// MaxChannelsPerConnection caps subscriptions per connection. Default 100.
	MaxChannelsPerConnection int
	// ExpiryGrace is added to a token's exp before its connection is
	// closed; it equals the verifier's leeway so both agree on expiry.
	ExpiryGrace time.Duration
	// Rates holds the per-user message and per-event rules, their tiers,
	// and when sustained abuse closes a connection. Nil means no limits.
	Rates *ratelimit.Policy

	Broker    broker.Broker
	Presence  presence.Presence
	Queue     queue.Queue
	Limiter   ratelimit.Limiter
	Policy    *channel.Policy
	Scheduler *schedule.Scheduler
	Logger    logr.Logger
	// Metrics receives the hub's counters; nil means a private,
	// unexported set.
	Metrics *metrics.Metrics
	// Forwarder handles events the hub does not know; nil answers them
	// with unknown_event.
	Forwarder Forwarder
}

// Forwarder sends custom client events to the application's backend
// (rpcproxy.Proxy).
type Forwarder interface {
	TryAcquire() bool
	Release()
	Forward(ctx context.Context, c rpcproxy.Call, requestID string) (json.RawMessage, *protocol.Error)
}

// Defaults for Config.
const (
	DefaultHeartbeatInterval        = 25 * time.Second
	DefaultHeartbeatTimeout         = 60 * time.Second
	DefaultMaxChannelsPerConnection = 100
)

// Broker topic prefixes. A user's topic carries messages addressed to the
// user, a channel's topic the channel's publications.
const (
	topicUserPrefix    = "u:"
	topicChannelPrefix = "c:"
	topicBroadcast     = "b"
)

const shardCount = 64

// Hub holds one node's sessions and delivers messages to them.
type Hub struct {
	cfg   Config
	log   logr.Logger
	seed  maphash.Seed
	users [shardCount]userShard
	chans [shardCount]chanShard

	// receipts lets SendToUser learn what local delivery did with a
	// message while its Publish call runs (the memory broker delivers
	// synchronously), so its answer is exact rather than a guess.
	receipts sync.Map // message id -> *receipt

	count     atomic.Int64
	closing   atomic.Bool
	ownsSched bool
	emptied   chan struct{} // closed by the last session to leave while closing
	emptyOnce sync.Once
}

type userShard struct {
	mu    sync.Mutex
	users map[string][]*Session
}

type chanShard struct {
	mu    sync.Mutex
	chans map[string]map[*Session]struct{}
}

// New returns a Hub and starts its broker subscription to broadcasts.
func New(cfg Config) (*Hub, error) {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.HeartbeatTimeout <= cfg.HeartbeatInterval {
		return nil, fmt.Errorf("hub: heartbeat timeout (%s) must exceed the heartbeat interval (%s)", cfg.HeartbeatTimeout, cfg.HeartbeatInterval)
	}
	if cfg.MaxChannelsPerConnection <= 0 {
		cfg.MaxChannelsPerConnection = DefaultMaxChannelsPerConnection
	}
	if cfg.Broker == nil {
		cfg.Broker = broker.NewMemory()
	}
	if cfg.Presence == nil {
		cfg.Presence = presence.NewMemory()
	}
	if cfg.Queue == nil {
		cfg.Queue = queue.NewMemory(queue.Config{})
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemory()
	}
	if cfg.Rates == nil {
		cfg.Rates = &ratelimit.Policy{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Policy == nil {
		p, err := channel.NewPolicy(channel.Config{})
		if err != nil {
			return nil, err
		}
		cfg.Policy = p
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, seed: maphash.MakeSeed(), emptied: make(chan struct{})}
	if cfg.Scheduler == nil {
		h.cfg.Scheduler = schedule.New()
		h.ownsSched = true
	}
	for i := range h.users {
		h.users[i].users = make(map[string][]*Session)
		h.chans[i].chans = make(map[string]map[*Session]struct{})
	}
	if err := cfg.Broker.Start(h.dispatch); err != nil {
		return nil, fmt.Errorf("while starting the broker: %w", err)
	}
	if err := cfg.Broker.Subscribe(context.Background(), topicBroadcast); err != nil {
		return nil, fmt.Errorf("while subscribing to broadcasts: %w", err)
	}
	return h, nil
}

// Connections returns the number of open sessions on this node.
func (h *Hub) Connections() int { return int(h.count.Load()) }

// Limiter returns the limiter the hub decides with, for the HTTP layer's
// own rules.
func (h *Hub) Limiter() ratelimit.Limiter { return h.cfg.Limiter }

// UserConnections returns how many connections the user has open, as the
// presence store counts them.
func (h *Hub) UserConnections(ctx context.Context, userID string) (int, error) {
	info, err := h.cfg.Presence.Get(ctx, userID)
	return info.Connections, err
}

// HeartbeatInterval returns the configured ping interval.
func (h *Hub) HeartbeatInterval() time.Duration { return h.cfg.HeartbeatInterval }

// Queue returns the offline queue the hub delivers from.
func (h *Hub) Queue() queue.Queue { return h.cfg.Queue }

func (h *Hub) userShard(id string) *userShard {
	return &h.users[maphash.String(h.seed, id)%shardCount]
}

func (h *Hub) chanShard(name string) *chanShard {
	return &h.chans[maphash.String(h.seed, name)%shardCount]
}

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
	r := &receipt{}
	h.receipts.Store(msg.ID, r)
	n, err := h.cfg.Broker.Publish(ctx, topicUserPrefix+userID, msg)
	h.receipts.Delete(msg.ID)
	if err != nil {
		return Delivery{}, fmt.Errorf("while publishing to user %s: %w", userID, err)
	}
	if r.seen.Load() {
		// Local delivery ran: it either reached a connection or, when the
		// user had just left, put the message in the queue itself.
		if r.accepted.Load() > 0 {
			return Delivery{MessageID: msg.ID, Status: StatusDelivered}, nil
		}
		return Delivery{MessageID: msg.ID, Status: StatusQueued}, nil
	}
	if n > 0 {
		return Delivery{MessageID: msg.ID, Status: StatusDelivered}, nil
	}
	if err := h.enqueueOffline(ctx, userID, msg); err != nil {
		return Delivery{}, err
	}
	return Delivery{MessageID: msg.ID, Status: StatusQueued}, nil
}

// Publish delivers msg to the subscribers of a channel.
func (h *Hub) Publish(ctx context.Context, ch string, msg *message.Message) (Delivery, error) {
	msg.Channel = ch
	n, err := h.cfg.Broker.Publish(ctx, topicChannelPrefix+ch, msg)
	if err != nil {
		return Delivery{}, fmt.Errorf("while publishing to channel %s: %w", ch, err)
	}
	d := Delivery{MessageID: msg.ID, Status: StatusDelivered}
	if n == 0 {
		d.Status = StatusNoSubscribers
	}
	return d, nil
}

// Broadcast delivers msg to every connection on every node.
func (h *Hub) Broadcast(ctx context.Context, msg *message.Message) (Delivery, error) {
	if _, err := h.cfg.Broker.Publish(ctx, topicBroadcast, msg); err != nil {
		return Delivery{}, fmt.Errorf("while broadcasting: %w", err)
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
	out := newOutbound(msg)
	switch {
	case topic == topicBroadcast:
		h.deliverAll(out)
	case len(topic) > len(topicUserPrefix) && topic[:len(topicUserPrefix)] == topicUserPrefix:
		h.deliverUser(topic[len(topicUserPrefix):], out)
	case len(topic) > len(topicChannelPrefix) && topic[:len(topicChannelPrefix)] == topicChannelPrefix:
		h.deliverChannel(topic[len(topicChannelPrefix):], out)
	default:
		h.log.Info("publication on an unknown topic dropped", "topic", topic, "messageId", msg.ID)
	}
}

// deliverUser hands out to each of the user's sessions. If none accepts it
// (the user just disconnected), the message goes to the offline queue, so
// a message addressed to a user is never silently lost.
func (h *Hub) deliverUser(userID string, out *outbound) {
	s := h.userShard(userID)
	s.mu.Lock()
	sessions := append([]*Session(nil), s.users[userID]...)
	s.mu.Unlock()
	accepted := 0
	for _, sess := range sessions {
		if sess.deliver(out, true) {
			accepted++
		}
	}
	if v, ok := h.receipts.Load(out.msg.ID); ok {
		r := v.(*receipt)
		r.accepted.Add(int32(accepted))
		r.seen.Store(true)
	}
	if accepted == 0 {
		h.requeue(userID, out.msg)
	}
}

func (h *Hub) deliverChannel(name string, out *outbound) {
	s := h.chanShard(name)
	s.mu.Lock()
	subs := make([]*Session, 0, len(s.chans[name]))
	for sess := range s.chans[name] {
		subs = append(subs, sess)
	}
	s.mu.Unlock()
	for _, sess := range subs {
		sess.deliver(out, false)
	}
}

func (h *Hub) deliverAll(out *outbound) {
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
			sess.deliver(out, false)
		}
	}
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
	s := h.userShard(userID)
	s.mu.Lock()
	sessions := append([]*Session(nil), s.users[userID]...)
	s.mu.Unlock()
	seen := map[string]bool{}
	for _, sess := range sessions {
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
		if s.claims.ID == jti {
			s.close(closeTokenRevoked)
			n++
		}
	})
	return n
}

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

// ErrClosing is returned by Accept once a drain has begun.
var ErrClosing = errors.New("hub: shutting down")

// DrainConfig paces a drain.
type DrainConfig struct {
	// Window spreads the closes evenly over this long. Zero closes every
	// connection at once.
	Window time.Duration
	// ReconnectDelayMax bounds the random reconnect delay suggested to
	// each client in its "reconnect" event.
	ReconnectDelayMax time.Duration
}

// drainTick is the shortest pause between two batches of closes: finer
// pacing would only cost timer wake-ups.
const drainTick = 50 * time.Millisecond

// Drain stops accepting sessions, then closes every session in batches
// spread over cfg.Window. Each client first gets a "reconnect" event with
// a jittered delay, then the 1012 "service restart" close, so the fleet
// does not get every client back at the same instant. Drain waits until
// all sessions have gone or ctx ends, when the rest are cut.
func (h *Hub) Drain(ctx context.Context, cfg DrainConfig) error {
	h.closing.Store(true)
	var all []*Session
	h.eachSession(func(s *Session) { all = append(all, s) })
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	batches := 1
	if cfg.Window > 0 && len(all) > 1 {
		batches = int(min(int64(len(all)), int64(cfg.Window/drainTick)))
		batches = max(batches, 1)
	}
	per := (len(all) + batches - 1) / max(batches, 1)
	pause := cfg.Window / time.Duration(batches)
	h.log.Info("draining", "connections", len(all), "window", cfg.Window.String(), "batches", batches)
	for i := 0; i < len(all); i += per {
		for _, s := range all[i:min(i+per, len(all))] {
			s.sendReconnect(jitter(cfg.ReconnectDelayMax))
			s.close(closeServiceRestart)
		}
		if i+per >= len(all) {
			break
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			// Out of time: close the rest at once.
			for _, s := range all[i+per:] {
				s.close(closeServiceRestart)
			}
			i = len(all)
		}
	}
	return h.waitEmpty(ctx)
}

func jitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return rand.N(limit)
}

// Shutdown closes every session at once; it is Drain without pacing.
func (h *Hub) Shutdown(ctx context.Context) error {
	return h.Drain(ctx, DrainConfig{})
}

// waitEmpty waits until every session has gone, or cuts the rest when ctx
// ends, then releases what the hub owns.
func (h *Hub) waitEmpty(ctx context.Context) error {
	if h.count.Load() == 0 {
		h.emptyOnce.Do(func() { close(h.emptied) })
	}
	var err error
	select {
	case <-h.emptied:
	case <-ctx.Done():
		h.eachSession(func(s *Session) { s.conn.Abort() })
		err = fmt.Errorf("hub: %d connections still open at the shutdown deadline: %w", h.count.Load(), ctx.Err())
	}
	if h.ownsSched {
		h.cfg.Scheduler.Close()
	}
	_ = h.cfg.Broker.Close()
	return err
}
