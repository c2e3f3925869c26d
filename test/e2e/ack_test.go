package e2e

import (
	"net/http"
	"testing"
)

// dialAcks connects with acks=1, so queued messages stay queued until
// acknowledged.
func dialAcks(t *testing.T, n *node, tok string) *client {
	t.Helper()
	ws, _, err := dialRaw(t, n, "acks=1", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{t: t, ws: ws}
	c.expect("connected").decode(t, &c.conn)
	return c
}

// checkAckedDelivery sends three messages to an offline user through
// sendVia, then connects with acks=1 through each of connectVia in turn:
// unacknowledged messages come back on the next connect, and acknowledged
// ones do not.
func checkAckedDelivery(t *testing.T, user string, sendVia *node, connectVia ...*node) {
	t.Helper()
	var ids []string
	for i := range 3 {
		r := sendVia.send(t, user, "notification", fmtPayload(i))
		if r.Body["status"] != "queued" {
			t.Fatalf("send: %s", r.Raw)
		}
		ids = append(ids, r.Body["messageId"].(string))
	}
	depth := func() float64 {
		q := call(t, "GET", sendVia.base+"/ws/queue/"+user, serviceToken(t), nil)
		return q.Body["depth"].(float64)
	}
	// First connect: all three arrive, marked queued; no ack, then drop.
	c := dialAcks(t, connectVia[0], userToken(t, user))
	for _, id := range ids {
		if m := c.expectMessage("notification"); m.ID != id || !m.Queued {
			t.Fatalf("first connect: got %+v, want queued %s", m, id)
		}
	}
	c.ws.Close()
	eventually(t, "the first connection to go", func() bool {
		st := call(t, "GET", sendVia.base+"/ws/status/"+user, serviceToken(t), nil)
		return st.Body["online"] == false
	})
	if d := depth(); d != 3 {
		t.Fatalf("unacknowledged messages left the queue: depth %v", d)
	}
	// Second connect: the same three again; acknowledge two.
	c = dialAcks(t, connectVia[len(connectVia)-1], userToken(t, user))
	for _, id := range ids {
		if m := c.expectMessage("notification"); m.ID != id {
			t.Fatalf("redelivery: got %s, want %s", m.ID, id)
		}
	}
	f := c.request("ack_messages", map[string]any{"ids": ids[:2]})
	var rep struct{ Removed int }
	f.decode(t, &rep)
	if f.Event != "ack" || rep.Removed != 2 {
		t.Fatalf("ack_messages: %s %s", f.Event, f.Data)
	}
	if d := depth(); d != 1 {
		t.Fatalf("depth after acknowledging two: %v", d)
	}
	if f := c.request("ack_messages", map[string]any{}); f.Event != "error" {
		t.Fatalf("ack_messages without ids: %s", f.Event)
	}
}

func TestQueuedMessagesStayUntilAcknowledged(t *testing.T) {
	n := startNode(t, nil)
	checkAckedDelivery(t, "acker", n, n)
}

func TestQueuedMessagesStayUntilAcknowledgedAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "")
	checkAckedDelivery(t, "fleet-acker", nodes[0], nodes[1], nodes[2])
}
