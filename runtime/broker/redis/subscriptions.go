package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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
