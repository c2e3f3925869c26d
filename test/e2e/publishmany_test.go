package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// checkPublishMany publishes one message to three channels through pub;
// subscribers on sub get one each, with the id the reply gave for that
// channel.
func checkPublishMany(t *testing.T, pub, sub *node) {
	a := dial(t, sub, userToken(t, "alice"))
	a.subscribe("scores:1", "scores:2")
	b := dial(t, sub, userToken(t, "bob"))
	b.subscribe("scores:3")
	r := call(t, "POST", pub.base+"/ws/publish", serviceToken(t), map[string]any{
		"channels": []string{"scores:1", "scores:2", "scores:3", "scores:empty"}, "type": "goal", "payload": map[string]any{"min": 90}})
	mustStatus(t, r, 200)
	t.Logf("reply: %s", r.Raw)
	results := r.Body["results"].([]any)
	if len(results) != 4 || r.Body["published"].(float64) != 4 || r.Body["failed"].(float64) != 0 {
		t.Fatalf("reply %s", r.Raw)
	}
	ids := map[string]string{}
	for _, x := range results {
		res := x.(map[string]any)
		ids[res["channel"].(string)] = res["messageId"].(string)
	}
	if results[3].(map[string]any)["status"] != "no_subscribers" || results[0].(map[string]any)["status"] != "delivered" {
		t.Errorf("statuses: %s", r.Raw)
	}
	if len(map[string]bool{ids["scores:1"]: true, ids["scores:2"]: true, ids["scores:3"]: true}) != 3 {
		t.Errorf("message ids are not one per channel: %v", ids)
	}
	got := map[string]string{}
	for range 2 {
		m := a.expectMessage("goal")
		got[m.Channel] = m.ID
	}
	m := b.expectMessage("goal")
	got[m.Channel] = m.ID
	for _, ch := range []string{"scores:1", "scores:2", "scores:3"} {
		if got[ch] != ids[ch] {
			t.Errorf("%s: got message %q, the reply said %q", ch, got[ch], ids[ch])
		}
	}

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("c:%d", i)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"channel": "a:1", "channels": []string{"b:1"}, "type": "x"}, "channels"},
		{map[string]any{"channels": many, "type": "x"}, "channels"},
		{map[string]any{"channels": []string{"a:1", "a:1"}, "type": "x"}, "channels[1]"},
		{map[string]any{"channels": []string{"a:1", "bad name"}, "type": "x"}, "channels[1]"},
		{map[string]any{"channels": []string{"a:1"}}, "type"},
		{map[string]any{"type": "x"}, "channel"},
	} {
		r := call(t, "POST", pub.base+"/ws/publish", serviceToken(t), tc.body)
		if r.Status != 400 || r.errorField() != tc.field {
			t.Errorf("%v: %d %s, want 400 on %s", tc.body, r.Status, r.Raw, tc.field)
		}
	}
}

func TestPublishToManyChannels(t *testing.T) {
	n := startNode(t, nil)
	checkPublishMany(t, n, n)
}

func TestPublishToManyChannelsAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "")
	checkPublishMany(t, nodes[0], nodes[2])
}

// TestWriteDelayDeliversEverythingInOrder: with transport.writeDelay, the
// messages a connection gets within the delay share writes; each
// subscriber still gets every one, in order.
func TestWriteDelayDeliversEverythingInOrder(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Transport.WriteDelay = config.Duration{Duration: 20 * time.Millisecond} })
	var subs []*client
	for i := range 3 {
		c := dial(t, n, userToken(t, fmt.Sprintf("reader-%d", i)))
		c.subscribe("ticker:1")
		subs = append(subs, c)
	}
	ids := make([]string, 0, 30)
	for i := range 30 {
		r := call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "ticker:1", "type": "tick", "payload": i})
		mustStatus(t, r, 200)
		ids = append(ids, r.Body["messageId"].(string))
	}
	for i, c := range subs {
		for j, id := range ids {
			if m := c.expectMessage("tick"); m.ID != id {
				t.Fatalf("subscriber %d, message %d: %s, want %s", i, j, m.ID, id)
			}
		}
	}
}
