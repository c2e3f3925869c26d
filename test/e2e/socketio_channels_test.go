package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// TestSocketIOChannelFeatures runs the channel features with
// socket.io-client: they go through the same event table as the native
// protocol, and arrive as Socket.IO events and acks.
func TestSocketIOChannelFeatures(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Channels.Namespaces = map[string]channel.Rule{
			"chat": {Publish: channel.PublishSubscribers},
			"doc":  {Presence: true, JoinLeave: true},
		}
		c.RateLimit.Events = map[string]config.Rule{"publish": {Limit: sioPublishLimit, Window: config.Duration{Duration: time.Minute}}}
		c.Auth.Leeway = config.Duration{}
		c.Auth.ExpiryWarning = config.Duration{Duration: 9 * time.Second}
	})
	checkSocketIOChannelFeatures(t, n, n, n)
}

// TestSocketIOChannelFeaturesAcrossNodes runs the same on three nodes of
// one redis-server: the sockets on the first, the HTTP API and the
// revocation through the second, the other user's tabs on the third.
func TestSocketIOChannelFeaturesAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, fmt.Sprintf(`channels:
  namespaces:
    chat: {publish: subscribers}
    doc: {presence: true, joinLeave: true}
rateLimit:
  events:
    publish: {limit: %d, window: 1m}
auth:
  leeway: 0s
  expiryWarning: 9s
`, sioPublishLimit))
	checkSocketIOChannelFeatures(t, nodes[0], nodes[1], nodes[2])
}

// sioPublishLimit is how many publish events a minute the nodes of the
// Socket.IO channel tests allow a user.
const sioPublishLimit = 4

// checkSocketIOChannelFeatures runs rt_channels.js with sio-alice's
// sockets on n, its HTTP calls through api, and sio-bob's two tabs on
// other. The runtimes must warn of expiry 9s before exp.
func checkSocketIOChannelFeatures(t *testing.T, n, api, other *node) {
	revoked := auth.NewJTI()
	mustStatus(t, call(t, "POST", api.base+"/admin/tokens/revoke", adminToken(t), map[string]any{"jti": revoked}), 200)
	env := n.sioEnv(t, "sio-alice",
		"SIO_API="+api.base,
		"SIO_FRESH_TOKEN="+token(t, auth.TokenRequest{UserID: "sio-alice", TTL: 2 * time.Hour}),
		"SIO_OTHER_TOKEN="+token(t, auth.TokenRequest{UserID: "sio-bob", TTL: time.Hour}),
		"SIO_REVOKED_TOKEN="+shortToken(t, "sio-alice", time.Hour, revoked),
		// The warning is due at once: exp is closer than the 9s warning.
		"SIO_SHORT_TOKEN="+shortToken(t, "sio-alice", 8*time.Second, auth.NewJTI()),
		"SIO_OTHER_URL="+strings.Replace(other.base, "http://", "ws://", 1),
		fmt.Sprintf("SIO_PUBLISH_LIMIT=%d", sioPublishLimit))
	out := nodeclient.MustRun(t, nodeWait, "rt_channels.js", env...)
	step := func(name string) map[string]any {
		t.Helper()
		s := out.Step(name)
		if s == nil {
			t.Fatalf("no %s step:\n%s", name, out.Stdout)
		}
		return s
	}
	ack := func(name string) map[string]any {
		t.Helper()
		return rtFirst(step(name), "ack")
	}
	code := func(name string) any {
		t.Helper()
		e, _ := ack(name)["error"].(map[string]any)
		return e["code"]
	}
	pubs, _ := ack("history")["publications"].([]any)
	if len(pubs) != 1 || pubs[0].(map[string]any)["id"] != step("history")["messageId"] {
		t.Errorf("history: %v", step("history"))
	}
	if ack("publish")["status"] != "delivered" {
		t.Errorf("publish: %v", step("publish"))
	}
	if d, _ := step("own-copy")["data"].(map[string]any); d["publisher"] != "sio-alice" || d["channel"] != "chat:1" {
		t.Errorf("own copy: %v", step("own-copy"))
	}
	if code("publish-refused") != "channel_forbidden" {
		t.Errorf("a refused publish: %v", step("publish-refused"))
	}
	if ms, _ := ack("presence")["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["userId"] != "sio-alice" {
		t.Errorf("presence: %v", step("presence"))
	}
	if fmt.Sprint(ack("presence_stats")["users"]) != "1" {
		t.Errorf("presence_stats: %v", step("presence_stats"))
	}
	if d, _ := step("subscribed")["data"].(map[string]any); fmt.Sprint(d["channels"]) != "[analysis:7]" {
		t.Errorf("subscribed: %v", step("subscribed"))
	}
	if d, _ := step("unsubscribed")["data"].(map[string]any); fmt.Sprint(d["channels"]) != "[analysis:7]" {
		t.Errorf("unsubscribed: %v", step("unsubscribed"))
	}
	// Two tabs of sio-bob: two users, three connections, one join and one
	// leave.
	if st := ack("presence-two-tabs"); fmt.Sprint(st["users"], "/", st["connections"]) != "2/3" {
		t.Errorf("presence with sio-bob's two tabs: %v, want 2 users, 3 connections", st)
	}
	if ev := fmt.Sprint(step("join-leave")["events"]); ev != "[map[channel:doc:1 event:join userId:sio-bob] map[channel:doc:1 event:leave userId:sio-bob]]" {
		t.Errorf("join and leave for two tabs: %s, want one join and one leave", ev)
	}
	if ack("refresh")["userId"] != "sio-alice" || ack("refresh")["expiresAt"] == nil {
		t.Errorf("refresh: %v", step("refresh"))
	}
	for name, want := range map[string]string{
		"refresh-refused": "token_malformed", "refresh-other-user": "token_refused", "refresh-revoked": "token_revoked",
	} {
		if code(name) != want {
			t.Errorf("%s: %v, want %s", name, step(name), want)
		}
	}
	// Two publish events came before, the delivered one and the one
	// refused for its channel: the loop's (limit-1)th is past the limit.
	refused, _ := step("publish-rate-limited")["refused"].(map[string]any)
	if e, _ := rtFirst(refused, "ack")["error"].(map[string]any); e["code"] != "rate_limited" || fmt.Sprint(refused["i"]) != fmt.Sprint(sioPublishLimit-1) {
		t.Errorf("publishing past the limit of %d: %v, want rate_limited on the loop's publish %d", sioPublishLimit, refused, sioPublishLimit-1)
	}
	if d, _ := step("token_expiring")["data"].(map[string]any); d["expiresAt"] == nil || d["expiresInMs"] == nil {
		t.Errorf("token_expiring: %v", step("token_expiring"))
	}
}

// TestSocketIOConnectionsTheRuntimeEnds: a Socket.IO socket whose token
// expires gets close_reason 4001 and is disconnected, as is one whose
// token is revoked (4003); the node then holds no connection, and its
// timers still run. The hub closes a connection under the session's
// lock, and a Socket.IO disconnect ends the session: done on the same
// goroutine, the expiry wedged the scheduler that runs every connection's
// heartbeat and expiry.
func TestSocketIOConnectionsTheRuntimeEnds(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Auth.Leeway = config.Duration{}
		c.Heartbeat.Interval = config.Duration{Duration: 200 * time.Millisecond}
	})
	jti := auth.NewJTI()
	out := nodeclient.MustRun(t, nodeWait, "rt_expiry.js", n.sioEnv(t, "sio-ends",
		"SIO_SHORT_TOKEN="+shortToken(t, "sio-ends", 2*time.Second, auth.NewJTI()),
		"SIO_REVOCABLE_TOKEN="+shortToken(t, "sio-ends", time.Hour, jti),
		"SIO_REVOKE_JTI="+jti,
		"SIO_ADMIN_TOKEN="+adminToken(t))...)
	for name, code := range map[string]string{"expired": "4001", "revoked": "4003"} {
		s := out.Step(name)
		cr, _ := s["closeReason"].(map[string]any)
		if s == nil || fmt.Sprint(cr["code"]) != code || s["disconnect"] != "io server disconnect" {
			t.Errorf("%s: %v, want close_reason %s and a server disconnect\n%s", name, s, code, out.Stdout)
		}
	}
	eventually(t, "no connection left", func() bool { return n.srv.Hub().Connections() == 0 })
	// The scheduler still runs: a native connection is pinged.
	c := dial(t, n, userToken(t, "after"))
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	pinged := make(chan struct{})
	c.ws.SetPingHandler(func(string) error { close(pinged); return nil })
	go func() { _, _, _ = c.ws.ReadMessage() }()
	select {
	case <-pinged:
	case <-time.After(wait):
		t.Fatal("no heartbeat ping within the wait: the scheduler is stuck")
	}
}
