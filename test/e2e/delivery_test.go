package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

func TestDeliveryToUserWithSeveralConnections(t *testing.T) {
	n := startNode(t, nil)
	a1 := dial(t, n, userToken(t, "alice"))
	a2 := dial(t, n, userToken(t, "alice"))
	bob := dial(t, n, userToken(t, "bob"))
	r := n.send(t, "alice", "notification", map[string]any{"title": "Analysis Complete"})
	mustStatus(t, r, 200)
	if r.Body["status"] != "delivered" || r.Body["messageId"] == "" {
		t.Fatalf("send: %s", r.Raw)
	}
	for _, c := range []*client{a1, a2} {
		m := c.expectMessage("notification")
		if m.ID != r.Body["messageId"] || m.Type != "notification" || m.Priority != "normal" || m.Timestamp == "" || m.Channel != "" {
			t.Fatalf("message %+v", m)
		}
		if string(m.Payload) != `{"title":"Analysis Complete"}` {
			t.Fatalf("payload %s", m.Payload)
		}
	}
	// bob got nothing: his next frame is the reply to his own ping.
	if f := bob.request("ping", nil); f.Event != "ack" {
		t.Fatalf("bob: %s", f.Event)
	}
	st := call(t, "GET", n.base+"/ws/status/alice", serviceToken(t), nil)
	mustStatus(t, st, 200)
	if st.Body["online"] != true || st.Body["connections"].(float64) != 2 {
		t.Fatalf("status %s", st.Raw)
	}
}

func TestDeliveryToChannelSubscribers(t *testing.T) {
	n := startNode(t, nil)
	sub1 := dial(t, n, userToken(t, "alice"))
	sub2 := dial(t, n, userToken(t, "bob"))
	other := dial(t, n, userToken(t, "carol"))
	sub1.subscribe("analysis:123")
	sub2.subscribe("analysis:123", "document:456")
	other.subscribe("document:456")
	r := call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{
		"channel": "analysis:123", "type": "analysis_progress",
		"payload": map[string]any{"analysisId": "123", "percentage": 40}, "priority": "low",
	})
	mustStatus(t, r, 200)
	if r.Body["status"] != "delivered" {
		t.Fatalf("publish: %s", r.Raw)
	}
	for _, c := range []*client{sub1, sub2} {
		m := c.expectMessage("analysis_progress")
		if m.Channel != "analysis:123" || m.Priority != "low" {
			t.Fatalf("message %+v", m)
		}
	}
	if f := other.request("ping", nil); f.Event != "ack" {
		t.Fatalf("non-subscriber received %s", f.Event)
	}
	st := call(t, "GET", n.base+"/ws/status/bob", serviceToken(t), nil)
	if fmt.Sprint(st.Body["channels"]) != "[analysis:123 document:456]" {
		t.Fatalf("bob's channels: %s", st.Raw)
	}
	r = call(t, "POST", n.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "nobody:here", "type": "x"})
	if r.Body["status"] != "no_subscribers" {
		t.Fatalf("publish to empty channel: %s", r.Raw)
	}
}

func TestBroadcastReachesEveryone(t *testing.T) {
	n := startNode(t, nil)
	var clients []*client
	for i := range 5 {
		clients = append(clients, dial(t, n, userToken(t, fmt.Sprintf("user%d", i))))
	}
	admin := token(t, auth.TokenRequest{UserID: "ops", Roles: []string{"admin"}})
	r := call(t, "POST", n.base+"/ws/broadcast", admin, map[string]any{
		"type": "maintenance", "payload": map[string]any{"title": "Scheduled Maintenance"}, "priority": "high",
	})
	mustStatus(t, r, 200)
	for _, c := range clients {
		if m := c.expectMessage("maintenance"); m.ID != r.Body["messageId"] || m.Priority != "high" {
			t.Fatalf("message %+v", m)
		}
	}
}

func TestOfflineQueueDeliveredInOrderOnConnect(t *testing.T) {
	n := startNode(t, nil)
	var ids []string
	for i := range 5 {
		r := n.send(t, "offline-user", "notification", fmtPayload(i))
		mustStatus(t, r, 200)
		if r.Body["status"] != "queued" {
			t.Fatalf("send %d: %s", i, r.Raw)
		}
		ids = append(ids, r.Body["messageId"].(string))
	}
	q := call(t, "GET", n.base+"/ws/queue/offline-user", serviceToken(t), nil)
	mustStatus(t, q, 200)
	if q.Body["depth"].(float64) != 5 || len(q.Body["messages"].([]any)) != 5 {
		t.Fatalf("queue: %s", q.Raw)
	}
	st := call(t, "GET", n.base+"/ws/status/offline-user", serviceToken(t), nil)
	if st.Body["online"] != false || st.Body["connections"].(float64) != 0 {
		t.Fatalf("status: %s", st.Raw)
	}

	c := dial(t, n, userToken(t, "offline-user"))
	for i, id := range ids {
		m := c.expectMessage("notification")
		var p struct{ Seq int }
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if m.ID != id || p.Seq != i {
			t.Fatalf("message %d: id %s seq %d, want id %s seq %d", i, m.ID, p.Seq, id, i)
		}
	}
	// New messages follow the queued ones, and the queue is now empty.
	if r := n.send(t, "offline-user", "notification", fmtPayload(5)); r.Body["status"] != "delivered" {
		t.Fatalf("live send: %s", r.Raw)
	}
	c.expectMessage("notification")
	q = call(t, "GET", n.base+"/ws/queue/offline-user", serviceToken(t), nil)
	if q.Body["depth"].(float64) != 0 {
		t.Fatalf("queue after delivery: %s", q.Raw)
	}
}

func TestBulkSend(t *testing.T) {
	n := startNode(t, nil)
	online := dial(t, n, userToken(t, "on"))
	r := call(t, "POST", n.base+"/ws/send/bulk", serviceToken(t), map[string]any{
		"userIds": []string{"on", "off"}, "type": "notification", "payload": map[string]any{"x": 1},
	})
	mustStatus(t, r, 200)
	if r.Body["delivered"].(float64) != 1 || r.Body["queued"].(float64) != 1 {
		t.Fatalf("bulk: %s", r.Raw)
	}
	online.expectMessage("notification")
	q := call(t, "GET", n.base+"/ws/queue/off", serviceToken(t), nil)
	if q.Body["depth"].(float64) != 1 {
		t.Fatalf("queue of off: %s", q.Raw)
	}
}

func TestPresenceEvents(t *testing.T) {
	n := startNode(t, nil)
	watcher := dial(t, n, userToken(t, "watcher"))
	if res := watcher.subscribe("presence:bob"); !res[0].OK {
		t.Fatalf("subscribe presence: %+v", res[0].Error)
	}
	expectPresence := func(status string) {
		t.Helper()
		m := watcher.expectMessage("user_presence")
		var p struct{ UserID, Status string }
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.UserID != "bob" || p.Status != status || m.Channel != "presence:bob" {
			t.Fatalf("presence %+v on %s, want bob %s", p, m.Channel, status)
		}
	}
	b1 := dial(t, n, userToken(t, "bob"))
	expectPresence("online")
	b2 := dial(t, n, userToken(t, "bob"))
	b1.ws.Close()
	eventually(t, "first connection gone", func() bool {
		st := call(t, "GET", n.base+"/ws/status/bob", serviceToken(t), nil)
		return st.Body["connections"].(float64) == 1
	})
	b2.ws.Close()
	// Only the last disconnection announces offline; a second online
	// would have arrived before it.
	expectPresence("offline")
}
