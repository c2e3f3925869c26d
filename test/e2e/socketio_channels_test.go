package e2e

import (
	"fmt"
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
	})
	fresh := token(t, auth.TokenRequest{UserID: "sio-alice", TTL: 2 * time.Hour})
	out := nodeclient.MustRun(t, nodeWait, "rt_channels.js", n.sioEnv(t, "sio-alice", "SIO_FRESH_TOKEN="+fresh)...)
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
	if e, _ := ack("publish-refused")["error"].(map[string]any); e["code"] != "channel_forbidden" {
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
	if ack("refresh")["userId"] != "sio-alice" || ack("refresh")["expiresAt"] == nil {
		t.Errorf("refresh: %v", step("refresh"))
	}
	if e, _ := ack("refresh-refused")["error"].(map[string]any); e["code"] != "token_malformed" {
		t.Errorf("a refused refresh: %v", step("refresh-refused"))
	}
}
