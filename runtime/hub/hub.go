package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/presence"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/recovery"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
	"github.com/fleetwire/fleetwire/runtime/schedule"
	"github.com/fleetwire/fleetwire/runtime/serversub"
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
	// RebalanceDelayMax bounds the random reconnect delay suggested to a
	// client a rebalance order moves (rebalance.go); the server gives it
	// the drain's bound.
	RebalanceDelayMax time.Duration
	// RebalanceClaim, when set, claims a user for window fleet-wide
	// before a rebalance order asks them to reconnect, and reports false
	// when another node claimed them within the window. Nil keeps the
	// record on this node only, which is the whole fleet on one node.
	RebalanceClaim func(ctx context.Context, userID string, window time.Duration) (bool, error)
	// MaxChannelsPerConnection caps subscriptions per connection. Default 100.
	MaxChannelsPerConnection int
	// ChannelPresence records who is on channels whose namespace has
	// presence on; default in memory.
	ChannelPresence chanpresence.Store
	// ServerSubs remembers server-side subscriptions for the users' next
	// connections; default in memory.
	ServerSubs serversub.Store
	// ServerSubTTL is how long they are remembered. Default
	// DefaultServerSubTTL.
	ServerSubTTL time.Duration
	// AllowedTypes, when not empty, lists the message types a client's
	// publish event may carry, as for the HTTP API.
	AllowedTypes map[string]bool
	// Tokens verifies the tokens of refresh events; without it, refresh
	// is refused.
	Tokens TokenVerifier
	// ExpiryWarning is how long before a token's exp its connection gets
	// a token_expiring event; 0 sends none.
	ExpiryWarning time.Duration
	// ExpiryGrace is added to a token's exp before its connection is
	// closed; it equals the verifier's leeway so both agree on expiry.
	ExpiryGrace time.Duration
	// Rates holds the per-user message and per-event rules, their tiers,
	// and when sustained abuse closes a connection. Nil means no limits.
	Rates *ratelimit.Policy
	// OnAbuse, when set, hears the client address of each connection
	// closed for abuse (the server bans it from connecting for a while).
	OnAbuse func(ip string)

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
	// DurableUserMessages stores every message addressed to a user in the
	// queue before it is published, and removes it only once it reached a
	// connection: written to the socket for a plain connection, or
	// acknowledged by a connection with acks=1. With a durable queue
	// (Redis) this keeps messages that were in flight on a node that died.
	DurableUserMessages bool
	// StoreEpoch, when set, names the data the queue holds, one part per
	// place it lives (a Redis Cluster's masters), and answers a new value
	// for a part once that part of the store has lost its data
	// (redisconn.Epoch). A node compares the parts from before and after
	// a broker break: if a part named both times changed, the messages it
	// sent to users just before the break are queued and published again
	// (republish.go). A part named only once (a shard added, slots moved)
	// says nothing.
	StoreEpoch func(ctx context.Context) (map[string]string, error)
	// History keeps channel history for namespaces that ask for it.
	// Default: in memory.
	History history.Store
	// Recovery keeps what a session with a Meta.RecoveryID leaves for its
	// client to recover (Socket.IO's connection state recovery). Nil turns
	// recovery off.
	Recovery recovery.Store
	// RecoveryWindow is how long after a session ends its client may still
	// recover it. Default 2m, as Socket.IO's maxDisconnectionDuration.
	RecoveryWindow time.Duration
	// RecoveryOutlivesNode says the Recovery store outlives this node
	// (Redis). Records are then written while sessions live too, on each
	// subscription change, so that the sessions of a node that dies can
	// still be recovered elsewhere. An in-process store dies with its node,
	// so it is written only when a session ends, and costs a live session
	// nothing.
	RecoveryOutlivesNode bool
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
	DefaultRecoveryWindow           = 2 * time.Minute
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

	// id names this node in the publications it delivers itself (see
	// gaps.go); gap and holding handle a broker subscription's breaks.
	id     string
	gap    gapState
	recent *recentPublications // what this node accepted lately (republish.go); nil when the broker reports no breaks
	// delivered holds what this node delivered lately, so that a gap fill
	// or a republish does not deliver it again (republish.go); nil with
	// recent.
	delivered *recentPublications
	holding   atomic.Bool
	dedup     atomic.Bool // gap.filled is in use

	// deliveries records the direct messages this node sent lately, for
	// the console's user page (inspect.go).
	deliveries deliveryLog

	count     atomic.Int64
	closing   atomic.Bool
	rebalance rebalancer            // see rebalance.go
	fan       fanout                // see fanout.go
	control   chan *message.Message // orders for the control worker (serversubs.go)
	ownsSched bool
	emptied   chan struct{} // closed by the last session to leave while closing
	emptyOnce sync.Once

	// ctx is the hub's root context: every goroutine the hub starts runs
	// under it (see spawn), and Shutdown cancels it once the sessions have
	// gone, then waits for those goroutines.
	ctx     context.Context
	cancel  context.CancelFunc
	spawnMu sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

type userShard struct {
	mu    sync.Mutex
	users map[string][]*Session
}

type chanShard struct {
	mu    sync.Mutex
	chans map[string]map[*Session]struct{}
	marks map[string]channelMark // per channel in chans; see gaps.go
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
	if cfg.RecoveryWindow <= 0 {
		cfg.RecoveryWindow = DefaultRecoveryWindow
	}
	if cfg.Broker == nil {
		cfg.Broker = broker.NewMemory()
	}
	if cfg.Presence == nil {
		cfg.Presence = presence.NewMemory()
	}
	if cfg.ChannelPresence == nil {
		cfg.ChannelPresence = chanpresence.NewMemory()
	}
	if cfg.ServerSubs == nil {
		cfg.ServerSubs = serversub.NewMemory()
	}
	if cfg.ServerSubTTL <= 0 {
		cfg.ServerSubTTL = DefaultServerSubTTL
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
	if cfg.History == nil {
		cfg.History = history.NewMemory()
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
	h := &Hub{cfg: cfg, log: cfg.Logger, seed: maphash.MakeSeed(), emptied: make(chan struct{}), id: newNodeID()}
	h.gap.broadcasts.joined = time.Now()
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if cfg.Scheduler == nil {
		h.cfg.Scheduler = schedule.New()
		h.ownsSched = true
	}
	for i := range h.users {
		h.users[i].users = make(map[string][]*Session)
		h.chans[i].chans = make(map[string]map[*Session]struct{})
		h.chans[i].marks = make(map[string]channelMark)
	}
	h.watchBroker()
	h.startFanout()
	h.startControl()
	if err := cfg.Broker.Start(h.dispatch); err != nil {
		h.cancel()
		return nil, fmt.Errorf("while starting the broker: %w", err)
	}
	if err := cfg.Broker.Subscribe(h.ctx, topicBroadcast, topicControl); err != nil {
		h.cancel()
		return nil, fmt.Errorf("while subscribing to broadcasts: %w", err)
	}
	if r, ok := cfg.Presence.(presence.Refresher); ok {
		h.spawn(func(ctx context.Context) { h.refreshPresence(ctx, r) })
	}
	if r, ok := cfg.ChannelPresence.(chanpresence.Refresher); ok {
		h.spawn(func(ctx context.Context) { h.refreshChannelPresence(ctx, r) })
	}
	return h, nil
}

// spawn runs fn on a goroutine the hub owns, with the hub's root context.
// It reports false, and runs nothing, once Shutdown has stopped the hub.
func (h *Hub) spawn(fn func(ctx context.Context)) bool {
	h.spawnMu.Lock()
	defer h.spawnMu.Unlock()
	if h.stopped {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn(h.ctx)
	}()
	return true
}

// stop cancels the root context and waits for every goroutine spawn
// started.
func (h *Hub) stop() {
	h.spawnMu.Lock()
	h.stopped = true
	h.spawnMu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Connections returns the number of open sessions on this node.
func (h *Hub) Connections() int { return int(h.count.Load()) }

// UserConnections returns how many connections the user has open, as the
// presence store counts them.
func (h *Hub) UserConnections(ctx context.Context, userID string) (int, error) {
	info, err := h.cfg.Presence.Get(ctx, userID)
	return info.Connections, err
}

// HeartbeatInterval returns the configured ping interval.
func (h *Hub) HeartbeatInterval() time.Duration { return h.cfg.HeartbeatInterval }

// Queue returns the offline queue the hub delivers from, for tests that
// look into it; the HTTP layer is given the queue in its own Config.
func (h *Hub) Queue() queue.Queue { return h.cfg.Queue }

func (h *Hub) userShard(id string) *userShard {
	return &h.users[maphash.String(h.seed, id)%shardCount]
}

func (h *Hub) chanShard(name string) *chanShard {
	return &h.chans[maphash.String(h.seed, name)%shardCount]
}
