package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/redistest"
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

// TestSocketIOAndNativeClientsOfOneUser sends one message through the HTTP
// API to a user with a native WebSocket client and a Socket.IO client: both
// get the same message object.
func TestSocketIOAndNativeClientsOfOneUser(t *testing.T) {
	n := startNode(t, nil)
	native := dial(t, n, userToken(t, "carol"))
	done := make(chan nodeclient.Output, 1)
	go func() {
		out, err := nodeclient.Run(t, nodeWait, "flow.js", n.sioEnv(t, "carol", "SIO_EXPECT_MARK=both")...)
		if err != nil {
			t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		done <- out
	}()
	eventually(t, "carol's two connections", func() bool { return n.srv.Hub().Connections() == 2 })
	res := n.send(t, "carol", "notification", map[string]any{"mark": "both"})
	mustStatus(t, res, 200)
	got := native.expectMessage("notification")
	out := <-done
	var sio map[string]any
	for _, l := range out.Lines {
		if l["event"] == "notification" {
			args, _ := l["args"].([]any)
			sio, _ = args[0].(map[string]any)
		}
	}
	if sio == nil || sio["id"] != got.ID || sio["timestamp"] != got.Timestamp || sio["type"] != "notification" {
		t.Fatalf("socket.io client got %v; the native client got %+v", sio, got)
	}
}

// TestSocketIOReconnectsAfterARestartAndGetsItsQueue restarts the runtime
// a Socket.IO client is on. The client hears why ("reconnect", then
// "close_reason" 1012), its built-in reconnection brings it back once the
// node is up again, and the message sent while it was away (through
// another node of the fleet, into the Redis queue) arrives first.
func TestSocketIOReconnectsAfterARestartAndGetsItsQueue(t *testing.T) {
	rs := redistest.Start(t)
	port := freePort(t)
	env := []string{"REDIS_URL=" + rs.URL()}
	args := []string{"--drain-pre-delay", "0s", "--drain-timeout", "0s"}
	first := startProcessAt(t, port, env, args...)
	other := startProcessEnv(t, []string{"REDIS_URL=" + rs.URL()}, args...)

	done := make(chan nodeclient.Output, 1)
	go func() {
		out, err := nodeclient.Run(t, nodeWait, "flow.js", first.node.sioEnv(t, "dan",
			"SIO_EXPECT_CONNECTS=2", "SIO_EXPECT_MARK=while-away")...)
		if err != nil {
			t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		done <- out
	}()
	online := func() bool {
		r := call(t, "GET", other.node.base+"/ws/status/dan", serviceToken(t), nil)
		n, _ := r.Body["connections"].(float64)
		return n == 1
	}
	eventually(t, "dan online", online)
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-first.exit; err != nil {
		t.Fatalf("first runtime exit: %v", err)
	}
	res := other.node.send(t, "dan", "notification", map[string]any{"mark": "while-away"})
	mustStatus(t, res, 200)
	startProcessAt(t, port, env, args...)
	out := <-done
	var events []string
	for _, l := range out.Lines {
		if l["step"] == "event" {
			events = append(events, l["event"].(string))
		}
	}
	want := []string{"connected", "reconnect", "close_reason", "connected", "notification"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v\n%s", events, want, out.Stdout)
	}
}

// TestSocketIOAcknowledgedDelivery connects a Socket.IO client with
// acks=1: queued messages ask for an acknowledgement, and only the ones the
// client acknowledged leave the queue.
func TestSocketIOAcknowledgedDelivery(t *testing.T) {
	n := startNode(t, nil)
	var ids []string
	for i := range 3 {
		res := n.send(t, "erin", "notification", map[string]any{"n": i})
		mustStatus(t, res, 200)
		ids = append(ids, res.Body["messageId"].(string))
	}
	out := nodeclient.MustRun(t, nodeWait, "acks.js", n.sioEnv(t, "erin", "SIO_EXPECT=3", "SIO_ACK=2")...)
	var got []string
	for _, l := range out.Lines {
		if l["step"] == "message" {
			if l["asksAck"] != true || l["queued"] != true {
				t.Errorf("message %v: want a queued message asking for an ack", l)
			}
			got = append(got, l["id"].(string))
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("received %v, want %v in order", got, ids)
	}
	q := call(t, "GET", n.base+"/ws/queue/erin", serviceToken(t), nil)
	msgs, _ := q.Body["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["id"] != ids[2] {
		t.Fatalf("queue after acknowledging two: %s, want only %s", q.Raw, ids[2])
	}
}

// rawSIO is a minimal Socket.IO client on Engine.IO's WebSocket transport,
// for what socket.io-client cannot be made to do: die without a word.
type rawSIO struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRawSIO(t *testing.T, n *node, tok string) *rawSIO {
	t.Helper()
	u := strings.Replace(n.base, "http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &rawSIO{t: t, ws: ws}
	if open := c.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	auth, _ := json.Marshal(map[string]string{"token": tok})
	c.write("40" + string(auth))
	if got := c.read(); !strings.HasPrefix(got, `40{"sid"`) {
		t.Fatalf("CONNECT reply %q", got)
	}
	return c
}

func (c *rawSIO) write(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet, answering pings on the way.
func (c *rawSIO) read() string {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(wait))
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if string(p) == "2" {
			c.write("3")
			continue
		}
		return string(p)
	}
}

// event reads until an EVENT packet and returns its name and first argument.
func (c *rawSIO) event() (string, json.RawMessage) {
	c.t.Helper()
	for {
		p := c.read()
		if !strings.HasPrefix(p, "42[") {
			continue
		}
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(p[2:]), &args); err != nil || len(args) == 0 {
			c.t.Fatalf("event packet %q", p)
		}
		var name string
		_ = json.Unmarshal(args[0], &name)
		if len(args) > 1 {
			return name, args[1]
		}
		return name, nil
	}
}

// TestSocketIOMessageOnADeadConnectionIsNotLost writes a message to a
// Socket.IO connection whose client then dies without a close: nothing
// proved the client read it (no pong came after it), so it goes back to
// the user's queue and the next connection gets it. Memory and Redis
// stores both.
func TestSocketIOMessageOnADeadConnectionIsNotLost(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			n := startNode(t, func(c *config.Config) {
				c.SocketIO.PingInterval = config.Duration{Duration: time.Minute}
				if redis {
					c.RedisURL = redistest.Start(t).URL()
				}
			})
			c := dialRawSIO(t, n, userToken(t, "fay"))
			if name, _ := c.event(); name != "connected" {
				t.Fatalf("first event %q", name)
			}
			res := n.send(t, "fay", "notification", map[string]any{"n": 1})
			mustStatus(t, res, 200)
			if res.Body["status"] != "delivered" {
				t.Fatalf("send: %v", res.Body)
			}
			if name, _ := c.event(); name != "notification" {
				t.Fatalf("got %q", name)
			}
			// The client dies: no close packet, no pong for what it got.
			_ = c.ws.UnderlyingConn().Close()
			eventually(t, "the dead session to leave", func() bool { return n.srv.Hub().Connections() == 0 })
			again := dialRawSIO(t, n, userToken(t, "fay"))
			again.event() // connected
			name, data := again.event()
			var m appMessage
			_ = json.Unmarshal(data, &m)
			if name != "notification" || m.ID != res.Body["messageId"] || !m.Queued {
				t.Fatalf("after reconnecting: %s %s, want message %v again, from the queue", name, data, res.Body["messageId"])
			}
		})
	}
}
