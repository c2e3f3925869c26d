package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

// vetter is the application's backend for publishProxy: it refuses a
// publish whose payload says "spam", and records what it was asked.
func vetter(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var call struct {
			Event string
			Data  struct {
				Channel string
				Payload json.RawMessage
			}
			User struct{ UserID string }
		}
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil || call.Event != "publish" {
			http.Error(w, "bad call", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(call.Data.Payload), "spam") {
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"error":{"code":"moderated","message":"that looks like spam"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

const clientPublishRules = `channels:
  namespaces:
    chat: {publish: subscribers}
    ops: {publish: roles, publishRoles: [operator]}
    vetted: {publish: subscribers, publishProxy: true}
`

// checkClientPublish: alice on pub publishes; bob on sub receives.
func checkClientPublish(t *testing.T, pub, sub *node) {
	bob := dial(t, sub, userToken(t, "bob"))
	bob.subscribe("chat:1", "ops:1", "vetted:1")
	alice := dial(t, pub, userToken(t, "alice"))
	alice.subscribe("chat:1", "vetted:1")

	f, own := publishSubscribed(alice, map[string]any{"channel": "chat:1", "type": "say", "payload": map[string]any{"text": "hi"}})
	var d struct{ MessageID, Status string }
	f.decode(t, &d)
	if f.Event != "ack" || d.MessageID == "" || d.Status != "delivered" {
		t.Fatalf("publish: %s %s", f.Event, f.Data)
	}
	var m struct {
		appMessage
		Publisher string `json:"publisher"`
	}
	bob.expect("say").decode(t, &m)
	if m.ID != d.MessageID || m.Channel != "chat:1" || m.Publisher != "alice" || string(m.Payload) != `{"text":"hi"}` {
		t.Fatalf("bob got %+v", m)
	}
	if own != d.MessageID {
		t.Fatalf("alice's own copy: %s, want %s", own, d.MessageID)
	}

	carol := dial(t, pub, token(t, auth.TokenRequest{UserID: "carol", Roles: []string{"operator"}}))
	if f := carol.request("publish", map[string]any{"channel": "ops:1", "type": "alert"}); f.Event != "ack" {
		t.Fatalf("an operator publishing without subscribing: %s %s", f.Event, f.Data)
	}
	if m := bob.expectMessage("alert"); m.Channel != "ops:1" {
		t.Fatalf("bob got %+v", m)
	}

	for _, tc := range []struct {
		name string
		data map[string]any
		code string
	}{
		{"a channel it is not subscribed to", map[string]any{"channel": "chat:2", "type": "say"}, "channel_forbidden"},
		{"a namespace without client publishing", map[string]any{"channel": "news:1", "type": "say"}, "channel_forbidden"},
		{"without the role", map[string]any{"channel": "ops:1", "type": "say"}, "channel_forbidden"},
		{"a user channel", map[string]any{"channel": "user:bob", "type": "say"}, "channel_forbidden"},
		{"a reserved type", map[string]any{"channel": "chat:1", "type": "connected"}, "invalid_data"},
		{"no type", map[string]any{"channel": "chat:1"}, "invalid_data"},
		{"a bad priority", map[string]any{"channel": "chat:1", "type": "say", "priority": "urgent"}, "invalid_data"},
	} {
		f := alice.request("publish", tc.data)
		var e errorData
		f.decode(t, &e)
		if f.Event != "error" || e.Code != tc.code {
			t.Errorf("publish into %s: %s %s, want %s", tc.name, f.Event, f.Data, tc.code)
		}
	}

	// Through the backend: accepted, then refused.
	if f, own := publishSubscribed(alice, map[string]any{"channel": "vetted:1", "type": "say", "payload": "hello"}); f.Event != "ack" || own == "" {
		t.Fatalf("a vetted publish: %s %s, own copy %q", f.Event, f.Data, own)
	}
	if m := bob.expectMessage("say"); m.Channel != "vetted:1" {
		t.Fatalf("bob got %+v", m)
	}
	f = alice.request("publish", map[string]any{"channel": "vetted:1", "type": "say", "payload": "spam spam"})
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "rpc_error" || e.Message != "that looks like spam" {
		t.Fatalf("a refused vetted publish: %s %s", f.Event, f.Data)
	}
	// Nothing reached bob: the next thing he gets is this ping's answer.
	if f := bob.request("ping", nil); f.Event != "ack" {
		t.Fatalf("bob got %s %s after a refused publish", f.Event, f.Data)
	}
}

func TestClientPublish(t *testing.T) {
	be := vetter(t)
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{
			"chat":   {Publish: channel.PublishSubscribers},
			"ops":    {Publish: channel.PublishRoles, PublishRoles: []string{"operator"}},
			"vetted": {Publish: channel.PublishSubscribers, PublishProxy: true},
		}
		c.RPCProxy.URL = be.URL
	})
	checkClientPublish(t, n, n)
}

func TestClientPublishAcrossNodes(t *testing.T) {
	be := vetter(t)
	_, nodes := startFleet(t, 3, clientPublishRules+"rpcProxy:\n  url: "+be.URL+"\n")
	checkClientPublish(t, nodes[0], nodes[2])
}

// TestClientPublishRateLimit: client publishes count against the event
// rate limit.
func TestClientPublishRateLimit(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{"chat": {Publish: channel.PublishSubscribers}}
		c.RateLimit.Max = 5
	})
	alice := dial(t, n, userToken(t, "alice"))
	alice.subscribe("chat:1") // 1 of 5
	for i := range 4 {
		if f, _ := publishSubscribed(alice, map[string]any{"channel": "chat:1", "type": "say", "payload": i}); f.Event != "ack" {
			t.Fatalf("publish %d: %s %s", i, f.Event, f.Data)
		}
	}
	f := alice.request("publish", map[string]any{"channel": "chat:1", "type": "say"})
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "rate_limited" || e.RetryAfterMs <= 0 {
		t.Fatalf("the 6th event: %s %s, want rate_limited", f.Event, f.Data)
	}
}

// publishSubscribed publishes from a client subscribed to the channel,
// which gets its own copy, before or after the ack, and returns the reply
// and the id of that copy ("" when it did not come before the reply of a
// refused publish).
func publishSubscribed(c *client, data map[string]any) (frame, string) {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.write(map[string]any{"event": "publish", "data": data, "id": id})
	var reply *frame
	own := ""
	for reply == nil || (reply.Event == "ack" && own == "") {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for the publish's reply and copy: %v", err)
		}
		switch {
		case f.ID != nil && *f.ID == id:
			reply = &f
		case f.Event == data["type"]:
			var m appMessage
			f.decode(c.t, &m)
			own = m.ID
		default:
			c.t.Fatalf("unexpected frame %q %s", f.Event, f.Data)
		}
	}
	return *reply, own
}

// TestClientPublishLimits: a client publish is held to what the HTTP API
// is held to. A type outside messages.allowedTypes is refused with
// invalid_data; a publish frame over limits.maxMessageBytes closes the
// connection with 1009, as any frame that size.
func TestClientPublishLimits(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{"chat": {Publish: channel.PublishSubscribers}}
		c.Messages.AllowedTypes = []string{"say"}
		c.Limits.MaxMessageBytes = 1024
	})
	alice := dial(t, n, userToken(t, "alice"))
	alice.subscribe("chat:1")
	f := alice.request("publish", map[string]any{"channel": "chat:1", "type": "shout"})
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "invalid_data" || !strings.Contains(e.Message, "allow-list") {
		t.Fatalf("a type outside the allow-list: %s %s, want invalid_data", f.Event, f.Data)
	}
	if f, _ := publishSubscribed(alice, map[string]any{"channel": "chat:1", "type": "say"}); f.Event != "ack" {
		t.Fatalf("an allowed type: %s %s", f.Event, f.Data)
	}
	alice.write(map[string]any{"event": "publish", "id": 99, "data": map[string]any{"channel": "chat:1", "type": "say", "payload": strings.Repeat("x", 2048)}})
	if code, reason := alice.expectClose(); code != 1009 {
		t.Fatalf("a publish over maxMessageBytes: close %d %q, want 1009", code, reason)
	}
}

// TestClientPublishRateLimitAcrossNodes: the publish limit is the user's
// across the fleet, counted in Redis: publishes from alice's connection on
// node A count against her connection on node B.
func TestClientPublishRateLimitAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 2, "channels:\n  namespaces:\n    chat: {publish: subscribers}\nrateLimit:\n  events:\n    publish: {limit: 3, window: 1m}\n")
	a := dial(t, nodes[0], userToken(t, "alice"))
	b := dial(t, nodes[1], userToken(t, "alice"))
	// Each on a channel of its own, so each sees only its own copies.
	a.subscribe("chat:a")
	b.subscribe("chat:b")
	for i, c := range []*client{a, a, b} {
		if f, _ := publishSubscribed(c, map[string]any{"channel": "chat:" + map[*client]string{a: "a", b: "b"}[c], "type": "say", "payload": i}); f.Event != "ack" {
			t.Fatalf("publish %d of 3: %s %s", i+1, f.Event, f.Data)
		}
	}
	f, _ := publishSubscribed(b, map[string]any{"channel": "chat:b", "type": "say"})
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "rate_limited" {
		t.Fatalf("the 4th publish, on node B: %s %s, want rate_limited", f.Event, f.Data)
	}
}
