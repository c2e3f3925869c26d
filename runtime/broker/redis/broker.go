package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"

	"github.com/fleetwire/fleetwire/runtime/broker"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/redisconn"
)

// Config configures a Broker. Zero values mean the defaults.
type Config struct {
	// Client reaches Redis. Required.
	Client redis.UniversalClient
	// Prefix starts every channel name. Default "fleetwire:".
	Prefix string
	// BatchDelay collects subscription changes this long before sending
	// them, so a burst of connects costs one SUBSCRIBE. Default 2ms.
	BatchDelay time.Duration
	// HealthInterval pings an idle subscription connection this often, so
	// a dead connection is noticed and re-established. Default 5s.
	HealthInterval time.Duration
	Logger         logr.Logger
	// OnReconnect, when set, is called after the subscription connection
	// has been re-established with every topic.
	OnReconnect func()
	// OnLag, when set, gets the time each publication spent between its
	// publisher and this node.
	OnLag func(time.Duration)
}

// Defaults for Config.
const (
	DefaultPrefix         = redisconn.DefaultKeyPrefix
	DefaultBatchDelay     = 2 * time.Millisecond
	DefaultHealthInterval = 5 * time.Second
)

// Broker is the Redis implementation of broker.Broker. On a Redis
// Cluster it uses sharded pub/sub (SSUBSCRIBE/SPUBLISH): each channel
// lives on the shard that owns its slot, so a publication reaches only
// that shard instead of every node, and its receiver count is exact.
type Broker struct {
	cfg     Config
	channel string // prefix + "ch:"
	cluster *redis.ClusterClient
	handler broker.Handler

	mu        sync.Mutex
	subs      map[string]*subscriber // "" for classic pub/sub, else a shard's address
	where     map[string]*subscriber // sharded: channel -> the shard holding it
	topics    map[string]bool        // classic: the topics subscribed
	pending   map[string]bool        // topic -> subscribe (true) or unsubscribe (false)
	requested uint64                 // bumped by every Subscribe/Unsubscribe call
	confirmed uint64                 // highest requested value Redis has confirmed
	awaiting  map[uint64]int         // sync token -> PONGs still to come
	changed   chan struct{}          // closed and replaced when confirmed moves
	kick      chan struct{}
	started   bool
	closed    bool

	stop chan struct{}
	wg   sync.WaitGroup

	// watch holds the Watch callbacks.
	watch atomic.Pointer[watchers]
}

type watchers struct{ lost, restored func() }

var _ broker.Watcher = (*Broker)(nil)

// Watch implements broker.Watcher.
func (b *Broker) Watch(lost, restored func()) {
	b.watch.Store(&watchers{lost: lost, restored: restored})
}

func (b *Broker) lost() {
	if w := b.watch.Load(); w != nil && w.lost != nil {
		w.lost()
	}
}

func (b *Broker) restored() {
	if w := b.watch.Load(); w != nil && w.restored != nil {
		w.restored()
	}
}

// subscriber is one subscription connection and the goroutine reading it.
type subscriber struct {
	ps      *redis.PubSub
	sharded bool
}

var _ broker.Broker = (*Broker)(nil)

// New returns a Broker; Start begins delivery.
func New(cfg Config) (*Broker, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisbroker: Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = DefaultBatchDelay
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	cluster, _ := cfg.Client.(*redis.ClusterClient)
	return &Broker{
		cfg:      cfg,
		channel:  cfg.Prefix + "ch:",
		cluster:  cluster,
		subs:     map[string]*subscriber{},
		where:    map[string]*subscriber{},
		topics:   map[string]bool{},
		pending:  map[string]bool{},
		awaiting: map[uint64]int{},
		changed:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}, nil
}

// envelope is what travels through Redis: the message and when it was
// accepted, so the receiving node can measure delivery latency.
type envelope struct {
	Msg         *message.Message `json:"m"`
	AcceptedNs  int64            `json:"a,omitempty"`
	PublishedNs int64            `json:"p,omitempty"`
	Origin      string           `json:"o,omitempty"`
	Republished bool             `json:"r,omitempty"`
}

// Start implements broker.Broker.
func (b *Broker) Start(h broker.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("redisbroker: already started")
	}
	b.started, b.handler = true, h
	if b.cluster == nil {
		b.addSubscriberLocked("", b.cfg.Client.Subscribe(context.Background()), false)
	}
	b.wg.Add(1)
	go b.apply()
	return nil
}

func (b *Broker) addSubscriberLocked(key string, ps *redis.PubSub, sharded bool) *subscriber {
	sub := &subscriber{ps: ps, sharded: sharded}
	b.subs[key] = sub
	b.wg.Add(1)
	go b.receive(sub)
	return sub
}

// Publish implements broker.Broker. It returns how many nodes were
// subscribed to the topic.
func (b *Broker) Publish(ctx context.Context, topic string, msg *message.Message) (int, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return 0, broker.ErrClosed
	}
	env := envelope{Msg: msg, PublishedNs: time.Now().UnixNano(), Origin: msg.Origin, Republished: msg.Republished}
	if !msg.Accepted.IsZero() {
		env.AcceptedNs = msg.Accepted.UnixNano()
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return 0, fmt.Errorf("while encoding message %s: %w", msg.ID, err)
	}
	var n int64
	if b.cluster != nil {
		n, err = b.cluster.SPublish(ctx, b.channel+topic, payload).Result()
	} else {
		n, err = b.cfg.Client.Publish(ctx, b.channel+topic, payload).Result()
	}
	if err != nil {
		return 0, fmt.Errorf("while publishing to %s: %w", topic, err)
	}
	return int(n), nil
}

// Subscribe implements broker.Broker without waiting on the network.
func (b *Broker) Subscribe(_ context.Context, topics ...string) error {
	return b.record(true, topics)
}

// Unsubscribe implements broker.Broker without waiting on the network.
func (b *Broker) Unsubscribe(_ context.Context, topics ...string) error {
	return b.record(false, topics)
}

func (b *Broker) record(sub bool, topics []string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return broker.ErrClosed
	}
	for _, t := range topics {
		b.pending[t] = sub
	}
	b.requested++
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// Sync implements broker.Broker: it waits until Redis has confirmed every
// change requested before the call.
func (b *Broker) Sync(ctx context.Context) error {
	b.mu.Lock()
	want := b.requested
	for b.confirmed < want {
		if b.closed {
			b.mu.Unlock()
			return broker.ErrClosed
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("redisbroker: subscriptions not confirmed: %w", ctx.Err())
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	return nil
}

// Ping implements broker.Broker.
func (b *Broker) Ping(ctx context.Context) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return broker.ErrClosed
	}
	return b.cfg.Client.Ping(ctx).Err()
}

// Close implements broker.Broker.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.changed)
	started := b.started
	b.mu.Unlock()
	close(b.stop)
	if started {
		b.mu.Lock()
		subs := make([]*subscriber, 0, len(b.subs))
		for _, sub := range b.subs {
			subs = append(subs, sub)
		}
		b.mu.Unlock()
		for _, sub := range subs {
			_ = sub.ps.Close()
		}
		b.wg.Wait()
	}
	return nil
}
