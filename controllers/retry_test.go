package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// A RealtimeService that keeps failing (the kube-apiserver away, say) is
// retried with a growing delay, but never more than maxRetryDelay apart,
// so it is reconciled soon after the cause goes.
func TestRetryDelayIsCapped(t *testing.T) {
	l := retryLimiter()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "default", Name: "chat"}}
	first := l.When(req)
	var last = first
	for range 40 {
		last = l.When(req)
	}
	if first >= last || last != maxRetryDelay {
		t.Fatalf("delays %s first, %s after 40 failures; want growth up to %s", first, last, maxRetryDelay)
	}
	l.Forget(req)
	if d := l.When(req); d != first {
		t.Fatalf("after Forget the delay is %s, want %s again", d, first)
	}
}
