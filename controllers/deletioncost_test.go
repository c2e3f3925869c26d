package controllers

import (
	"context"
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwire/fleetwire/api/v1alpha1"
)

func TestDeletionCostChanged(t *testing.T) {
	for _, tc := range []struct {
		current string
		count   int64
		want    bool
	}{
		{"", 0, true},         // never written
		{"many", 3, true},     // not a number
		{"0", 1, true},        // an empty pod became busy
		{"5", 0, true},        // a busy pod became empty
		{"5", 14, false},      // moved by 9
		{"5", 15, true},       // moved by 10
		{"300", 325, false},   // under a tenth of 300
		{"300", 330, true},    // a tenth
		{"300", 270, true},    // a tenth down
		{"2000", 2150, false}, // a tenth is 200
	} {
		if got := deletionCostChanged(tc.current, tc.count); got != tc.want {
			t.Errorf("current %q, count %d: %v, want %v", tc.current, tc.count, got, tc.want)
		}
	}
}

// TestDeletionCostsFollowConnections points two pods at real runtimes and
// checks that each pod's deletion cost is its connection count, written
// again only when the count moves by a step or to or from zero.
func TestDeletionCostsFollowConnections(t *testing.T) {
	ns := newNamespace(t)
	a, b := startRuntime(t), startRuntime(t)
	var bConns []*websocket.Conn
	for i := range 2 {
		a.Connect(t, fmt.Sprintf("alice-%d", i))
	}
	for i := range 3 {
		bConns = append(bConns, b.Connect(t, fmt.Sprintf("bob-%d", i)))
	}
	create(t, jwtSecret(ns), newRTS(ns, "chat", func(s *v1.RealtimeServiceSpec) { withRedis(s); s.Replicas = 2 }))
	deploymentOf(t, ns, "chat")
	podFor(t, ns, "chat", "chat-a", a, true)
	podFor(t, ns, "chat", "chat-b", b, true)
	finishRollout(t, ns, "chat")

	costs := func(what, wantA, wantB string) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			got := map[string]string{}
			for _, name := range []string{"chat-a", "chat-b"} {
				p := &corev1.Pod{}
				if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
					return false, err.Error()
				}
				got[name] = p.Annotations[deletionCostAnnotation]
			}
			return got["chat-a"] == wantA && got["chat-b"] == wantB, fmt.Sprintf("costs %v", got)
		})
	}
	costs("each pod's count", "2", "3")

	for i := range 12 {
		a.Connect(t, fmt.Sprintf("alice-more-%d", i))
	}
	bConns[0].Close()
	// a moved by 12: written. b moved by 1: not.
	costs("a's move of 12 written, b's of 1 not", "14", "3")

	for _, c := range bConns[1:] {
		c.Close()
	}
	costs("b, now empty, at zero", "14", "0")
}
