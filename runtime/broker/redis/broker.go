package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

const syncPrefix = "sync:"

// apply sends batched subscription changes, each batch followed by a PING
// whose payload names the request count it covers; receive confirms it
// when the PONG comes back, after Redis has processed the batch.
func (b *Broker) apply() {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		}
		select {
		case <-time.After(b.cfg.BatchDelay):
		case <-b.stop:
			return
		}
		b.mu.Lock()
		batch, upto := b.pending, b.requested
		b.pending = map[string]bool{}
		b.mu.Unlock()
		if err := b.send(batch, upto); err != nil {
			b.cfg.Logger.Error(err, "subscription change failed; retrying")
			b.mu.Lock()
			for t, sub := range batch {
				if _, newer := b.pending[t]; !newer {
					b.pending[t] = sub
				}
			}
			b.mu.Unlock()
			select {
			case b.kick <- struct{}{}:
			default:
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-b.stop:
				return
			}
		}
	}
}

func (b *Broker) send(batch map[string]bool, upto uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	touched := map[*subscriber]bool{}
	for t, sub := range batch {
		ch := b.channel + t
		s, err := b.subscriberFor(ctx, ch, sub)
		if err != nil {
			return err
		}
		if s == nil {
			continue // unsubscribing a channel no shard holds
		}
		switch {
		case sub && s.sharded:
			err = s.ps.SSubscribe(ctx, ch)
		case sub:
			err = s.ps.Subscribe(ctx, ch)
		case s.sharded:
			err = s.ps.SUnsubscribe(ctx, ch)
		default:
			err = s.ps.Unsubscribe(ctx, ch)
		}
		if err != nil {
			return err
		}
		if !s.sharded {
			b.mu.Lock()
			if sub {
				b.topics[t] = true
			} else {
				delete(b.topics, t)
			}
			b.mu.Unlock()
		}
		touched[s] = true
	}
	if len(touched) == 0 {
		b.confirm(upto)
		return nil
	}
	b.mu.Lock()
	b.awaiting[upto] = len(touched)
	b.mu.Unlock()
	token := syncPrefix + strconv.FormatUint(upto, 10)
	for s := range touched {
		if err := s.ps.Ping(ctx, token); err != nil {
			return err
		}
	}
	return nil
}

// subscriberFor returns the connection that holds (or will hold) ch: the
// one classic subscriber, or on a cluster the subscriber of the shard that
// owns ch's slot, created on first use.
func (b *Broker) subscriberFor(ctx context.Context, ch string, subscribing bool) (*subscriber, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster == nil {
		return b.subs[""], nil
	}
	if s, ok := b.where[ch]; ok {
		if !subscribing {
			delete(b.where, ch)
		}
		return s, nil
	}
	if !subscribing {
		return nil, nil
	}
	master, err := b.cluster.MasterForKey(ctx, ch)
	if err != nil {
		return nil, fmt.Errorf("while finding the shard of %s: %w", ch, err)
	}
	addr := master.Options().Addr
	s, ok := b.subs[addr]
	if !ok {
		s = b.addSubscriberLocked(addr, master.SSubscribe(context.Background()), true)
	}
	b.where[ch] = s
	return s, nil
}

// receive reads the subscription connection: messages go to the handler,
// sync PONGs confirm batches. go-redis re-establishes the connection and
// its subscriptions after an error; a quiet connection is pinged so that
// a dead one is noticed.
func (b *Broker) receive(sub *subscriber) {
	defer b.wg.Done()
	ctx := context.Background()
	broken, pinged := false, false
	var brokenSince time.Time
	for {
		msg, err := sub.ps.ReceiveTimeout(ctx, b.cfg.HealthInterval)
		select {
		case <-b.stop:
			return
		default:
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !broken {
				if pinged {
					// Not even the health ping came back: the connection
					// is wedged (a network cut that leaves it open). Redis
					// keeps pushing into it, and the node would miss every
					// publication without knowing.
					b.cfg.Logger.Info("redis subscription connection silent; replacing it", "after", 2*b.cfg.HealthInterval)
					b.lost()
					b.replace(sub)
					return
				}
				_ = sub.ps.Ping(ctx)
				pinged = true
				continue
			}
			if !broken {
				b.cfg.Logger.Info("redis subscription connection lost; reconnecting", "error", err.Error())
				brokenSince = time.Now()
				b.lost()
			}
			broken = true
			if sub.sharded && time.Since(brokenSince) > rehomeAfter {
				b.rehome(sub)
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		pinged = false
		if broken {
			broken = false
			b.cfg.Logger.Info("redis subscription connection re-established")
			if b.cfg.OnReconnect != nil {
				b.cfg.OnReconnect()
			}
			b.restored()
		}
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(m)
		case *redis.Pong:
			if n, ok := strings.CutPrefix(m.Payload, syncPrefix); ok {
				if upto, err := strconv.ParseUint(n, 10, 64); err == nil {
					b.pong(upto)
				}
			}
		}
	}
}

// replace gives up a wedged subscription connection: its topics go back
// to pending, and the next batch subscribes them on a new connection (on a
// cluster, on whichever master owns their slots by then).
func (b *Broker) replace(sub *subscriber) {
	if sub.sharded {
		b.rehome(sub)
		return
	}
	b.mu.Lock()
	for t := range b.topics {
		b.pending[t] = true
	}
	b.topics = map[string]bool{}
	if b.subs[""] == sub && !b.closed {
		b.addSubscriberLocked("", b.cfg.Client.Subscribe(context.Background()), false)
	}
	b.requested++
	b.mu.Unlock()
	_ = sub.ps.Close()
	if b.cfg.OnReconnect != nil {
		b.cfg.OnReconnect()
	}
	b.kickApply()
	b.restoreWhenSynced()
}

// kickApply wakes the apply loop for the pending changes.
func (b *Broker) kickApply() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// restoreWhenSynced reports the subscription restored once the topics
// moved to a new connection are confirmed.
func (b *Broker) restoreWhenSynced() {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		// However long Redis stays away: the apply loop keeps retrying.
		if err := b.Sync(ctx); err != nil {
			return // closed
		}
		b.restored()
	}()
}

// rehomeAfter is how long a shard's subscription connection may stay
// broken before its channels are moved: long enough to ride out a brief
// network cut, short next to a cluster failover's usual seconds.
const rehomeAfter = 3 * time.Second

// rehome gives up a shard connection that stays broken, as when its
// master failed over: its channels go back to pending, and the next batch
// subscribes them on whichever master owns their slots by then. The
// cluster's slot map is reloaded first.
func (b *Broker) rehome(sub *subscriber) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.cluster.ReloadState(ctx)
	b.mu.Lock()
	moved := 0
	for ch, s := range b.where {
		if s == sub {
			delete(b.where, ch)
			b.pending[strings.TrimPrefix(ch, b.channel)] = true
			moved++
		}
	}
	for addr, s := range b.subs {
		if s == sub {
			delete(b.subs, addr)
		}
	}
	b.requested++
	b.mu.Unlock()
	_ = sub.ps.Close()
	b.cfg.Logger.Info("redis shard unreachable; moving its channels to the slot's current master", "channels", moved)
	if b.cfg.OnReconnect != nil {
		b.cfg.OnReconnect()
	}
	b.kickApply()
	// The moved channels carry publications again once their new
	// subscriptions are confirmed.
	b.restoreWhenSynced()
}

// pong counts one shard's answer to a sync PING, and confirms the batch
// once every shard it touched has answered.
func (b *Broker) pong(upto uint64) {
	b.mu.Lock()
	left, ok := b.awaiting[upto]
	if ok && left > 1 {
		b.awaiting[upto] = left - 1
		b.mu.Unlock()
		return
	}
	delete(b.awaiting, upto)
	b.mu.Unlock()
	b.confirm(upto)
}

func (b *Broker) confirm(upto uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if upto > b.confirmed && !b.closed {
		b.confirmed = upto
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

func (b *Broker) deliver(m *redis.Message) {
	topic, ok := strings.CutPrefix(m.Channel, b.channel)
	if !ok {
		return
	}
	var env envelope
	if err := json.Unmarshal([]byte(m.Payload), &env); err != nil || env.Msg == nil {
		b.cfg.Logger.Info("undecodable publication dropped", "topic", topic)
		return
	}
	if env.AcceptedNs != 0 {
		env.Msg.Accepted = time.Unix(0, env.AcceptedNs)
	}
	env.Msg.Origin, env.Msg.Republished = env.Origin, env.Republished
	if env.PublishedNs != 0 && b.cfg.OnLag != nil {
		b.cfg.OnLag(time.Since(time.Unix(0, env.PublishedNs)))
	}
	b.handler(topic, env.Msg)
}
