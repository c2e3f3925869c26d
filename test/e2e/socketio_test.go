package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// nodeWait bounds one node script; the scripts have their own deadline
// (SIO_TIMEOUT_MS) below it.
const nodeWait = 30 * time.Second

// sioEnv is the environment every runtime script gets.
func (n *node) sioEnv(t *testing.T, user string, extra ...string) []string {
	return append([]string{
		"SIO_URL=" + strings.Replace(n.base, "http://", "ws://", 1),
		"SIO_API=" + n.base,
		"SIO_TOKEN=" + userToken(t, user),
		"SIO_SERVICE_TOKEN=" + serviceToken(t),
		"SIO_USER=" + user,
		"SIO_TIMEOUT_MS=20000",
	}, extra...)
}

// TestSocketIOSeedExample runs the replaced service's README example with
// socket.io-client: over WebSocket as written, and with the client's
// default transports (polling, then the upgrade), and polling alone.
func TestSocketIOSeedExample(t *testing.T) {
	n := startNode(t, nil)
	for _, tc := range []struct{ transports, final string }{
		{"websocket", "websocket"},
		{"default", "websocket"},
		{"polling", "polling"},
	} {
		t.Run(tc.transports, func(t *testing.T) {
			out := nodeclient.MustRun(t, nodeWait, "seed.js", n.sioEnv(t, "alice", "SIO_TRANSPORTS="+tc.transports)...)
			conn := out.Step("connected")
			data, _ := conn["data"].(map[string]any)
			if data["userId"] != "alice" || data["socketId"] == "" {
				t.Fatalf("connected data: %v", conn)
			}
			prog := out.Step("analysis_progress")
			if prog == nil || prog["text"] != "Analysis 123: 42%" {
				t.Fatalf("analysis_progress: %v\n%s", prog, out.Stdout)
			}
			note, _ := out.Step("notification")["notification"].(map[string]any)
			payload, _ := note["payload"].(map[string]any)
			if note["type"] != "notification" || note["priority"] != "high" || payload["title"] != "Analysis Complete" || note["id"] == "" {
				t.Fatalf("notification: %v", note)
			}
			if done := out.Step("done"); done == nil || done["transport"] != tc.final {
				t.Fatalf("done: %v, want the %s transport", done, tc.final)
			}
		})
	}
	eventually(t, "every Socket.IO session to leave the hub", func() bool { return n.srv.Hub().Connections() == 0 })
}
