package e2e

import (
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
)

func TestChannelAuthorization(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{
			"ops":    {Allow: channel.AllowRoles, Roles: []string{"service", "oncall"}},
			"secret": {Allow: channel.Deny},
			"public": {Allow: channel.AllowAuthenticated},
		}
		c.Limits.MaxChannelsPerConnection = 3
	})
	alice := dial(t, n, token(t, auth.TokenRequest{UserID: "alice", Teams: []string{"red"}}))
	admin := dial(t, n, token(t, auth.TokenRequest{UserID: "root", Roles: []string{"admin"}}))
	oncall := dial(t, n, token(t, auth.TokenRequest{UserID: "pat", Roles: []string{"oncall"}}))

	tests := []struct {
		who     *client
		channel string
		want    string // "" means allowed, else the error code
	}{
		{alice, "user:alice", ""},
		{alice, "user:bob", "channel_forbidden"},
		{alice, "team:red", ""},
		{alice, "team:blue", "channel_forbidden"},
		{alice, "admin:alerts", "channel_forbidden"},
		{admin, "admin:alerts", ""},
		{admin, "user:alice", "channel_forbidden"},
		{alice, "ops:deploys", "channel_forbidden"},
		{oncall, "ops:deploys", ""},
		{oncall, "secret:x", "channel_forbidden"},
		{admin, "secret:x", "channel_forbidden"},
		{oncall, "public:news", ""},
		{oncall, "analysis:123", ""}, // default rule: any authenticated user
		{alice, "bad channel!", "invalid_channel"},
		{alice, "", "invalid_channel"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.who.conn.UserID, tt.channel), func(t *testing.T) {
			tt.who.t = t
			res := tt.who.subscribe(tt.channel)
			if len(res) != 1 || res[0].Channel != tt.channel {
				t.Fatalf("results %+v", res)
			}
			switch {
			case tt.want == "" && !res[0].OK:
				t.Fatalf("refused: %+v", res[0].Error)
			case tt.want != "" && (res[0].OK || res[0].Error == nil || res[0].Error.Code != tt.want):
				t.Fatalf("got ok=%v err=%+v, want %s", res[0].OK, res[0].Error, tt.want)
			}
		})
	}

	t.Run("per-connection cap", func(t *testing.T) {
		c := dial(t, n, userToken(t, "carol"))
		res := c.subscribe("a:1", "a:2", "a:3", "a:4", "a:2")
		codes := []string{}
		for _, r := range res {
			if r.OK {
				codes = append(codes, "ok")
			} else {
				codes = append(codes, r.Error.Code)
			}
		}
		if fmt.Sprint(codes) != "[ok ok ok too_many_channels ok]" {
			t.Fatalf("results %v", codes)
		}
		// Unsubscribing frees a slot.
		if f := c.request("unsubscribe", map[string]any{"channels": []string{"a:1"}}); f.Event != "ack" {
			t.Fatalf("unsubscribe: %s %s", f.Event, f.Data)
		}
		if res := c.subscribe("a:4"); !res[0].OK {
			t.Fatalf("after unsubscribe: %+v", res[0].Error)
		}
	})

	t.Run("bad subscribe data", func(t *testing.T) {
		c := dial(t, n, userToken(t, "dave"))
		for _, data := range []any{nil, "x", map[string]any{"channels": "a"}, map[string]any{"channels": []string{}}} {
			f := c.request("subscribe", data)
			var e errorData
			f.decode(t, &e)
			if f.Event != "error" || e.Code != "invalid_data" {
				t.Fatalf("data %v: %s %s", data, f.Event, f.Data)
			}
		}
	})

	t.Run("subscribe without id reports refusals as error events", func(t *testing.T) {
		c := dial(t, n, userToken(t, "erin"))
		c.emit("subscribe", map[string]any{"channels": []string{"admin:x"}})
		var e errorData
		c.expect("error").decode(t, &e)
		if e.Code != "channel_forbidden" {
			t.Fatalf("code %s", e.Code)
		}
	})
}

func TestClientEvents(t *testing.T) {
	n := startNode(t, nil)
	c := dial(t, n, userToken(t, "alice"))
	if c.conn.ConnectionID == "" || c.conn.UserID != "alice" || c.conn.ServerTime == "" || c.conn.HeartbeatIntervalMs != 25000 {
		t.Fatalf("connected data %+v", c.conn)
	}
	c.emit("ping", nil)
	c.expect("pong")
	if f := c.request("ping", nil); f.Event != "ack" {
		t.Fatalf("ping with id: %s", f.Event)
	}
	f := c.request("request_something_unknown", map[string]any{})
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "unknown_event" {
		t.Fatalf("unknown event: %s %s", f.Event, f.Data)
	}
	if err := c.ws.WriteMessage(1, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	c.expect("error").decode(t, &e)
	if e.Code != "bad_frame" {
		t.Fatalf("bad frame code %s", e.Code)
	}
	// The connection survives bad input.
	if f := c.request("ping", nil); f.Event != "ack" {
		t.Fatalf("after bad frame: %s", f.Event)
	}
}

func TestEventRateLimit(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.RateLimit.Max = 3 })
	c := dial(t, n, userToken(t, "alice"))
	for i := range 3 {
		if f := c.request("ping", nil); f.Event != "ack" {
			t.Fatalf("ping %d: %s %s", i, f.Event, f.Data)
		}
	}
	f := c.request("ping", nil)
	var e errorData
	f.decode(t, &e)
	if f.Event != "error" || e.Code != "rate_limited" || e.RetryAfterMs <= 0 {
		t.Fatalf("4th ping: %s %s", f.Event, f.Data)
	}
	// The connection stays open.
	c.emit("ping", nil)
	c.expect("error")
}
