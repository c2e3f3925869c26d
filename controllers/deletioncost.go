package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Idle pods go first. A ReplicaSet that scales down removes the pods with
// the lowest controller.kubernetes.io/pod-deletion-cost first, so the
// operator sets each runtime pod's cost to its connection count: the
// emptiest pods are removed, and the fewest clients have to reconnect.
//
// The count moves all the time; the annotation is written only when it
// moved by a step that can change the order of removal that matters (see
// deletionCostChanged), so the API server is not written on every count.

// deletionCostAnnotation is read by the ReplicaSet controller.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// deletionCostStep is the smallest move of a pod's count that is written,
// besides any move to or from zero connections.
const deletionCostStep = 10

// deletionCostChanged reports whether a pod whose annotation says current
// (ok false when it has none, or not a number) should now say count.
// A move to or from zero is always written: an empty pod must sort below
// every busy one. Otherwise the count must have moved by deletionCostStep
// or a tenth of the current cost, whichever is larger.
func deletionCostChanged(current string, count int64) bool {
	cur, err := strconv.ParseInt(current, 10, 32)
	if current == "" || err != nil {
		return true
	}
	if (cur == 0) != (count == 0) {
		return true
	}
	diff := count - cur
	if diff < 0 {
		diff = -diff
	}
	return diff >= max(deletionCostStep, cur/10)
}

// deletionCost bounds a count to the annotation's range (an int32).
func deletionCost(count int64) string {
	return strconv.FormatInt(min(count, 1<<31-1), 10)
}

// setDeletionCosts writes the deletion cost of each pod that answered the
// count, where it moved enough, and returns how many it wrote. A pod that
// did not answer keeps its cost. A failed write is logged; the next count
// tries again.
func (r *RealtimeServiceReconciler) setDeletionCosts(ctx context.Context, pods []corev1.Pod, counts map[types.UID]int64) int {
	written := 0
	for i := range pods {
		p := &pods[i]
		count, ok := counts[p.UID]
		if !ok || !deletionCostChanged(p.Annotations[deletionCostAnnotation], count) {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{deletionCostAnnotation: deletionCost(count)},
		}})
		if err := r.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
			log.FromContext(ctx).Error(fmt.Errorf("pod %s: %w", p.Name, err), "deletion cost not written; the next count tries again")
			continue
		}
		written++
	}
	return written
}
