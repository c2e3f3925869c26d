package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Rebalancing moves connections off a node that holds more than its share,
// after a fleet scaled up: new pods take only new connections, so without
// it the old pods stay hot for hours. An order names how many connections
// the node should keep; the node asks clients to reconnect, one at a time,
// at a capped rate, with the drain's jittered "reconnect" event and a 1012
// close, and the load balancer sends them to other pods.
//
// It is safe by construction:
//   - the rate is capped (MaxRebalancePerSecond), so an order can never
//     become a reconnect storm;
//   - the node never sheds below the order's target, and stops when the
//     order expires, so a stale order from an operator that went away
//     does nothing;
//   - a user asked to reconnect is not asked again within RebalanceWindow,
//     even if the balancer sends them straight back, or to another hot
//     node: each node remembers whom it asked, and with a shared store
//     (Config.RebalanceClaim, Redis) a user is claimed fleet-wide before
//     being asked;
//   - a draining node ignores orders: the drain closes everything anyway.

// RebalanceOrder asks a node to shed connections down to Target.
type RebalanceOrder struct {
	// Target is how many connections the node keeps.
	Target int64 `json:"target"`
	// PerSecond is how many clients at most are asked to reconnect each
	// second; at most MaxRebalancePerSecond.
	PerSecond float64 `json:"perSecond"`
	// Until is when the order lapses.
	Until time.Time `json:"until"`
	// Pods is how many pods the operator counted when it set Target, and
	// Total how many connections they held; the node uses neither.
	Pods  int   `json:"pods,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// Limits of a rebalance order.
const (
	// MaxRebalancePerSecond caps an order's rate.
	MaxRebalancePerSecond = 100
	// MaxRebalanceDuration caps how long an order lasts.
	MaxRebalanceDuration = 10 * time.Minute
	// DefaultRebalancePerSecond is an order's pace when none is given.
	DefaultRebalancePerSecond = 5
	// DefaultRebalanceDuration is how long an order stands when no
	// expiry is given.
	DefaultRebalanceDuration = time.Minute
	// RebalanceWindow is how long a user asked to reconnect is not asked
	// again by the same node.
	RebalanceWindow = 10 * time.Minute
)

// Validate reports what is wrong with an order.
func (o RebalanceOrder) Validate(now time.Time) error {
	switch {
	case o.Target < 0:
		return fmt.Errorf("target must not be negative, got %d", o.Target)
	case o.PerSecond <= 0 || o.PerSecond > MaxRebalancePerSecond:
		return fmt.Errorf("perSecond must be above 0 and at most %d, got %g", MaxRebalancePerSecond, o.PerSecond)
	case !o.Until.After(now):
		return fmt.Errorf("until (%s) has passed", o.Until.Format(time.RFC3339))
	case o.Until.Sub(now) > MaxRebalanceDuration:
		return fmt.Errorf("until must be within %s, got %s from now", MaxRebalanceDuration, o.Until.Sub(now).Round(time.Second))
	}
	return nil
}

// RebalanceStatus is what a node did with its orders.
type RebalanceStatus struct {
	// Order is the current order, if one is in force.
	Order *RebalanceOrder `json:"order,omitempty"`
	// Connections is the node's count now.
	Connections int64 `json:"connections"`
	// Asked is how many clients this node asked to reconnect, ever.
	Asked int64 `json:"asked"`
}

type rebalancer struct {
	mu      sync.Mutex
	order   *RebalanceOrder
	wake    chan struct{} // a new order for the running loop
	running bool
	asked   map[string]time.Time // user -> when asked, within RebalanceWindow
	total   int64
	// leaving counts the sessions asked to go that have not left yet, so
	// the loop does not shed past the target while closes are in flight.
	leaving atomic.Int64
}

// Rebalance puts order in force, replacing any earlier one; an order with
// a target at or above the node's count does nothing until the count
// rises past it. It returns an error for an invalid order, and
// ErrClosing while the node drains.
func (h *Hub) Rebalance(order RebalanceOrder) error {
	if err := order.Validate(time.Now()); err != nil {
		return err
	}
	if h.closing.Load() {
		return ErrClosing
	}
	r := &h.rebalance
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = &order
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	if !r.running && h.spawn(h.rebalanceLoop) {
		r.running = true
	}
	h.log.Info("rebalance order", "target", order.Target, "perSecond", order.PerSecond,
		"until", order.Until.Format(time.RFC3339), "connections", h.count.Load())
	return nil
}

// StopRebalance withdraws the order in force, if any.
func (h *Hub) StopRebalance() {
	r := &h.rebalance
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = nil
}

// RebalanceState reports the order in force and what the node did.
func (h *Hub) RebalanceState() RebalanceStatus {
	r := &h.rebalance
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RebalanceStatus{Connections: h.count.Load(), Asked: r.total}
	if r.order != nil && time.Now().Before(r.order.Until) {
		o := *r.order
		st.Order = &o
	}
	return st
}

// rebalanceLoop carries out orders until none is left in force.
func (h *Hub) rebalanceLoop(ctx context.Context) {
	r := &h.rebalance
	for {
		r.mu.Lock()
		o := r.order
		if o == nil || !time.Now().Before(o.Until) || h.closing.Load() {
			r.order, r.running = nil, false
			r.mu.Unlock()
			return
		}
		order := *o
		r.mu.Unlock()

		pause := time.Duration(float64(time.Second) / order.PerSecond)
		if h.count.Load()-r.leaving.Load() > order.Target && !h.shedOne(order) {
			// Everyone here was asked lately: wait for the window to
			// let some go, or for a new order.
			pause = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(pause):
		}
	}
}

// closeRebalance is the close after a rebalance's "reconnect" event: the
// 1012 "service restart" of a drain, which clients already answer by
// reconnecting, with a reason of its own.
var closeRebalance = closeReason{protocol.CloseServiceRestart, "rebalance", "rebalance"}

// rebalanceCandidates is how many clients one step of an order looks at
// to find one no node asked lately.
const rebalanceCandidates = 8

// shedOne asks one client not asked within RebalanceWindow to reconnect,
// and reports whether it found one. With Config.RebalanceClaim, a user
// is asked only once its fleet-wide claim is taken; one another node
// holds is remembered here as asked. When the claim cannot be read, no
// one is asked this step: an order never risks asking a user twice.
func (h *Hub) shedOne(order RebalanceOrder) bool {
	r := &h.rebalance
	now := time.Now()
	r.mu.Lock()
	if r.asked == nil {
		r.asked = map[string]time.Time{}
	}
	for u, at := range r.asked {
		if now.Sub(at) >= RebalanceWindow {
			delete(r.asked, u)
		}
	}
	r.mu.Unlock()
	var candidates []*Session
	seen := map[string]bool{}
	h.eachSession(func(s *Session) {
		if len(candidates) == rebalanceCandidates || seen[s.userID] {
			return
		}
		r.mu.Lock()
		_, asked := r.asked[s.userID]
		r.mu.Unlock()
		if !asked {
			seen[s.userID] = true
			candidates = append(candidates, s)
		}
	})
	pick, err := h.claimOne(candidates, now)
	if err != nil {
		h.log.Error(err, "rebalance: could not claim a user fleet-wide; asking no one this step")
		return false
	}
	if pick == nil {
		return len(candidates) > 0 // others claimed these: look again next step
	}
	delay := jitter(h.cfg.RebalanceDelayMax)
	h.log.Info("asking a client to reconnect elsewhere", "userId", pick.userID, "socketId", pick.meta.ConnID,
		"delayMs", delay.Milliseconds(), "connections", h.count.Load(), "target", order.Target)
	pick.sendReconnect(delay, closeRebalance)
	pick.mu.Lock()
	if !pick.closed { // else it goes anyway, for another reason
		r.leaving.Add(1)
		pick.closeLocked(closeRebalance)
	}
	pick.mu.Unlock()
	return true
}

// claimOne returns the first candidate whose user it could claim, and
// records every user it looked at as asked: the one it picked, and those
// another node claimed. It returns nil when none could be claimed, and
// an error, asking no one, when a claim could not be read.
func (h *Hub) claimOne(candidates []*Session, now time.Time) (*Session, error) {
	r := &h.rebalance
	for _, s := range candidates {
		if claim := h.cfg.RebalanceClaim; claim != nil {
			ctx, cancel := context.WithTimeout(h.ctx, time.Second)
			free, err := claim(ctx, s.userID, RebalanceWindow)
			cancel()
			if err != nil {
				return nil, err
			}
			if !free {
				r.mu.Lock()
				r.asked[s.userID] = now // another node asked them lately
				r.mu.Unlock()
				continue
			}
		}
		r.mu.Lock()
		r.asked[s.userID] = now
		r.total++
		r.mu.Unlock()
		return s, nil
	}
	return nil, nil
}
