package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/config"
)

type subscribedData struct {
	Channels []string
	Refused  []struct {
		Channel string
		Error   errorData
	}
}

// checkServerSubscriptions: the API is called on api; alice's connections
// are on the other nodes.
func checkServerSubscriptions(t *testing.T, api, first, second *node) {
	svc := serviceToken(t)
	a1 := dial(t, first, userToken(t, "alice"))
	a1.request("ping", nil) // its connect has finished, remembered subscriptions read

	r := call(t, "POST", api.base+"/ws/subscribe/alice", svc, map[string]any{"channels": []string{"analysis:123", "admin:ops"}})
	mustStatus(t, r, 200)
	t.Logf("subscribe: %s", r.Raw)
	until, err := time.Parse(time.RFC3339, r.Body["rememberedUntil"].(string))
	if err != nil || time.Until(until) < 50*time.Minute {
		t.Errorf("rememberedUntil %v (%v), want about an hour from now", r.Body["rememberedUntil"], err)
	}
	var sub subscribedData
	a1.expect("subscribed").decode(t, &sub)
	if !slices.Equal(sub.Channels, []string{"analysis:123"}) || len(sub.Refused) != 1 ||
		sub.Refused[0].Channel != "admin:ops" || sub.Refused[0].Error.Code != "channel_forbidden" {
		t.Fatalf("subscribed %+v", sub)
	}
	mustStatus(t, call(t, "POST", api.base+"/ws/publish", svc, map[string]any{"channel": "analysis:123", "type": "progress", "payload": 50}), 200)
	if m := a1.expectMessage("progress"); m.Channel != "analysis:123" {
		t.Fatalf("alice got %+v", m)
	}

	// A new connection gets the remembered subscription at connect.
	a2 := dial(t, second, userToken(t, "alice"))
	a2.expect("subscribed").decode(t, &sub)
	if !slices.Equal(sub.Channels, []string{"analysis:123"}) {
		t.Fatalf("the second connection's subscribed %+v", sub)
	}
	mustStatus(t, call(t, "POST", api.base+"/ws/publish", svc, map[string]any{"channel": "analysis:123", "type": "progress", "payload": 100}), 200)
	a1.expectMessage("progress")
	a2.expectMessage("progress")

	r = call(t, "POST", api.base+"/ws/unsubscribe/alice", svc, map[string]any{"channels": []string{"analysis:123", "admin:ops"}})
	mustStatus(t, r, 200)
	for _, c := range []*client{a1, a2} {
		var un struct{ Channels []string }
		c.expect("unsubscribed").decode(t, &un)
		if !slices.Equal(un.Channels, []string{"analysis:123"}) {
			t.Fatalf("unsubscribed %+v", un)
		}
	}
	// Forgotten: a third connection gets nothing, and the first no more
	// publications.
	a3 := dial(t, second, userToken(t, "alice"))
	mustStatus(t, call(t, "POST", api.base+"/ws/publish", svc, map[string]any{"channel": "analysis:123", "type": "progress", "payload": 0}), 200)
	for _, c := range []*client{a1, a3} {
		if f := c.request("ping", nil); f.Event != "ack" {
			t.Fatalf("after unsubscribe: %s %s", f.Event, f.Data)
		}
	}

	for _, tc := range []struct {
		path  string
		tok   string
		body  any
		code  int
		field string
	}{
		{"/ws/subscribe/alice", svc, map[string]any{"channels": []string{}}, 400, "channels"},
		{"/ws/subscribe/alice", svc, map[string]any{"channels": []string{"ok:1", "bad name"}}, 400, "channels[1]"},
		{"/ws/unsubscribe/alice", svc, map[string]any{}, 400, "channels"},
		{"/ws/subscribe/alice", userToken(t, "alice"), map[string]any{"channels": []string{"a:1"}}, 403, ""},
	} {
		r := call(t, "POST", api.base+tc.path, tc.tok, tc.body)
		if r.Status != tc.code || r.errorField() != tc.field {
			t.Errorf("%s %v: %d %s, want %d on %q", tc.path, tc.body, r.Status, r.Raw, tc.code, tc.field)
		}
	}
}

func TestServerSubscriptions(t *testing.T) {
	n := startNode(t, nil)
	checkServerSubscriptions(t, n, n, n)
}

func TestServerSubscriptionsAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "")
	checkServerSubscriptions(t, nodes[0], nodes[1], nodes[2])
}

// TestServerSubscriptionsExpire: a remembered subscription lasts
// serverSubscriptions.ttl.
func TestServerSubscriptionsExpire(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.ServerSubscriptions.TTL = config.Duration{Duration: time.Second} })
	mustStatus(t, call(t, "POST", n.base+"/ws/subscribe/bob", serviceToken(t), map[string]any{"channels": []string{"a:1"}}), 200)
	b1 := dial(t, n, userToken(t, "bob"))
	b1.expect("subscribed")
	time.Sleep(1200 * time.Millisecond)
	b2 := dial(t, n, userToken(t, "bob"))
	if f := b2.request("ping", nil); f.Event != "ack" {
		t.Fatalf("after the ttl, a new connection got %s %s", f.Event, f.Data)
	}
}
