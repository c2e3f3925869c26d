package e2e

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// TestSocketIONamespaces configures a second namespace. socket.io-client
// joins "/" and "/chat" over one connection: each is a session of its own
// (its own "connected", socket id and subscriptions), a message to the
// user reaches both, and a namespace not configured is refused.
func TestSocketIONamespaces(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.SocketIO.Namespaces = []string{"/", "/chat"} })
	for _, transports := range []string{"websocket", "polling,websocket"} {
		t.Run(transports, func(t *testing.T) {
			signals := startSignals(t)
			done := make(chan nodeclient.Output, 1)
			go func() {
				out, err := nodeclient.Run(t, nodeWait, "rt_namespaces.js", n.sioEnv(t, "erin",
					"SIO_NSP=/chat", "SIO_BAD_NSP=/nope", "SIO_EXPECT_MARK=both", "SIO_TRANSPORTS="+transports,
					"SIO_SIGNAL_URL="+signals.url)...)
				if err != nil {
					t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
				}
				done <- out
			}()
			signals.await(t, "joined")
			if got := n.srv.Hub().Connections(); got != 2 {
				t.Fatalf("hub sessions: %d, want one per namespace", got)
			}
			mustStatus(t, n.send(t, "erin", "notification", map[string]any{"mark": "both"}), 200)
			out := <-done

			joined := map[string]map[string]any{}
			for _, l := range out.Lines {
				if l["step"] == "connected" {
					joined[l["nsp"].(string)] = l
				}
			}
			main, chat := joined["/"], joined["/chat"]
			if main == nil || chat == nil || main["userId"] != "erin" || chat["userId"] != "erin" {
				t.Fatalf("connected: %v\n%s", joined, out.Stdout)
			}
			if main["engine"] != chat["engine"] || main["socketId"] == chat["socketId"] {
				t.Fatalf("want one connection with two sockets: %v", joined)
			}
			if r := out.Step("refused"); r == nil || r["message"] != "Invalid namespace" {
				t.Fatalf("refused: %v", r)
			}
			ack, _ := out.Step("ack")["resp"].(map[string]any)
			results, _ := ack["results"].([]any)
			if r, _ := firstOf(results).(map[string]any); r["channel"] != "document:ns" || r["ok"] != true {
				t.Fatalf("subscribe ack on /chat: %v", out.Step("ack"))
			}
			if out.Step("done") == nil {
				t.Fatalf("not every namespace got the message:\n%s", out.Stdout)
			}
			eventually(t, "both sessions to end", func() bool { return n.srv.Hub().Connections() == 0 })
		})
	}
}

func firstOf(s []any) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}
