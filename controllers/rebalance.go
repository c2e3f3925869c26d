package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

// Rebalancing after a scale-up. New pods take only new connections, so
// after a scale-up the old pods stay as busy as before. With
// spec.autoscaling.rebalance on, each time the operator counts the
// connections it compares every pod with the fleet's average. A pod above
// the average by more than the margin gets an order, in the annotation
// realtime.fleetwire.io/rebalance: the number of connections to keep (the
// margin's line), a pace, and an expiry. The runtime reads its pod's
// annotations from a downward API volume and asks clients over the line
// to reconnect, at that pace, never the same user twice within 10
// minutes; the Service sends them on to other pods. A standing order's
// target is only lowered when more pods are counted than when it was set
// (a pod that started after the order); otherwise it is only raised or
// removed. An order lapses two
// minutes after the operator last wrote it, so a stopped operator leaves
// nothing running. A pod back within the margin has its order removed.

// rebalanceAnnotation carries a pod's order; the runtime's podinfo
// package reads it.
const rebalanceAnnotation = "realtime.fleetwire.io/rebalance"

// rebalanceOrderTTL is how long a written order stands; it is written
// again when less than half of it is left.
const rebalanceOrderTTL = 2 * time.Minute

// rebalanceOrder is the annotation's JSON, as the runtime's
// hub.RebalanceOrder reads it.
type rebalanceOrder struct {
	Target    int64     `json:"target"`
	PerSecond float64   `json:"perSecond"`
	Until     time.Time `json:"until"`
	// Pods is how many pods were counted when Target was set, and Total
	// how many connections they held.
	Pods  int   `json:"pods,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// rebalanceTargets returns, for each pod above the fleet's average by
// more than marginPercent, the connections it should keep: the margin's
// line. Only pods counted this time take part; with fewer than two there
// is nothing to balance.
func rebalanceTargets(counts map[types.UID]int64, marginPercent int32) map[types.UID]int64 {
	if len(counts) < 2 {
		return nil
	}
	line := rebalanceLine(countTotal(counts), len(counts), marginPercent)
	out := map[types.UID]int64{}
	for uid, n := range counts {
		if n > line {
			out[uid] = line
		}
	}
	return out
}

// rebalanceLine is the most connections a pod may hold: the average of
// total over pods, plus the margin, rounded up.
func rebalanceLine(total int64, pods int, marginPercent int32) int64 {
	return int64(math.Ceil(float64(total) / float64(pods) * (1 + float64(marginPercent)/100)))
}

func countTotal(counts map[types.UID]int64) int64 {
	var total int64
	for _, n := range counts {
		total += n
	}
	return total
}

// setRebalanceOrders writes, refreshes or removes each counted pod's
// order, and returns how many pods it wrote. A failed write is logged;
// the next count tries again.
func (r *RealtimeServiceReconciler) setRebalanceOrders(ctx context.Context, rts *v1.RealtimeService, pods []corev1.Pod, counts map[types.UID]int64) int {
	var spec *v1.RebalanceSpec
	if as := rts.Spec.Autoscaling; as != nil && as.Rebalance != nil && as.Rebalance.Enabled {
		spec = as.Rebalance
	}
	var targets map[types.UID]int64
	var margin int32
	if spec != nil {
		margin = max(spec.MarginPercent, 5)
		targets = rebalanceTargets(counts, margin)
	}
	total := countTotal(counts)
	now := time.Now()
	written := 0
	for i := range pods {
		p := &pods[i]
		current, has := p.Annotations[rebalanceAnnotation]
		target, hot := targets[p.UID]
		var value any // nil removes the annotation
		switch {
		case hot:
			// Clients on their way between pods are counted nowhere, so
			// while a pod sheds, the average falls for a moment; chasing it
			// would shed more than needed and move clients twice, so a
			// standing order's target is lowered only when more pods are
			// counted than when it was set (nextOrder).
			next, write := nextOrder(current, rebalanceOrder{Target: target, Pods: len(counts), Total: total}, margin, now)
			if !write {
				continue
			}
			target = next.Target
			next.PerSecond = float64(max(spec.ConnectionsPerSecond, 1))
			next.Until = now.Add(rebalanceOrderTTL).UTC().Truncate(time.Second)
			b, _ := json.Marshal(next)
			value = string(b)
		case !has:
			continue
		case spec != nil:
			if _, counted := counts[p.UID]; !counted {
				continue // not counted this time: its order stands until it lapses
			}
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{rebalanceAnnotation: value},
		}})
		if err := r.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
			log.FromContext(ctx).Error(fmt.Errorf("pod %s: %w", p.Name, err), "rebalance order not written; the next count tries again")
			continue
		}
		if hot {
			log.FromContext(ctx).Info("rebalance order", "pod", p.Name, "connections", counts[p.UID], "target", target)
		}
		written++
	}
	return written
}

// nextOrder decides a hot pod's order from its current annotation and
// the one computed now (its Target, Pods and Total): the order to write,
// and whether the annotation must be written. A standing order's target
// is kept when it is higher, unless more pods are counted now than when
// it was set: a pod counted for the first time (one that started after
// the order) lowers the average for good, not for the moment a client is
// between pods. Clients may be between pods at that very count too, so
// the new line is drawn from the larger of the two totals. The annotation
// is written when there is none, or it names another target, or less than
// half its time is left.
func nextOrder(current string, computed rebalanceOrder, marginPercent int32, now time.Time) (rebalanceOrder, bool) {
	var o rebalanceOrder
	if current == "" || json.Unmarshal([]byte(current), &o) != nil || !o.Until.After(now) {
		return computed, true
	}
	next := computed
	switch {
	case computed.Pods <= o.Pods:
		if o.Target > computed.Target {
			next = rebalanceOrder{Target: o.Target, Pods: o.Pods, Total: o.Total}
		}
	case o.Total > computed.Total:
		next.Total = o.Total
		next.Target = max(next.Target, rebalanceLine(o.Total, computed.Pods, marginPercent))
	}
	return next, o.Target != next.Target || o.Pods != next.Pods || o.Until.Sub(now) < rebalanceOrderTTL/2
}
