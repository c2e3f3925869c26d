package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

	signals := startSignals(t)
	done := make(chan nodeclient.Output, 1)
	go func() {
		out, err := nodeclient.Run(t, nodeWait, "flow.js", first.node.sioEnv(t, "dan",
			"SIO_EXPECT_CONNECTS=2", "SIO_EXPECT_MARK=while-away", "SIO_SIGNAL_URL="+signals.url)...)
		if err != nil {
			t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		done <- out
	}()
	// The client has read "connected" before the node goes away.
	signals.await(t, "connected-1")
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

// With acks=1, a live message the client acknowledged is delivered, even
// if the connection then dies before any pong confirms what was written:
// it does not come back from the queue on the next connection. Found by
// the load generator's churn mode, where 262 of 300 messages came twice.
func TestSocketIOAcknowledgedLiveMessageIsNotSentAgain(t *testing.T) {
	n := startNode(t, nil)
	c := dialRawSIO(t, n, userToken(t, "fay"), "acks=1")
	if name, _ := c.event(); name != "connected" {
		t.Fatalf("first event %q", name)
	}
	first := n.send(t, "fay", "notification", map[string]any{"n": 1})
	mustStatus(t, first, 200)
	p := c.read()
	ackID, rest, ok := strings.Cut(strings.TrimPrefix(p, "42"), "[")
	if !strings.HasPrefix(p, "42") || !ok || ackID == "" || !strings.Contains(rest, first.Body["messageId"].(string)) {
		t.Fatalf("live message %q: want an EVENT asking for an ack, with id %v", p, first.Body["messageId"])
	}
	c.write("43" + ackID + "[]")
	time.Sleep(100 * time.Millisecond) // the ack read before the socket dies
	_ = c.ws.Close()                   // dies without a word, before any pong
	eventually(t, "fay offline", func() bool {
		return call(t, "GET", n.base+"/ws/status/fay", serviceToken(t), nil).Body["online"] == false
	})

	again := dialRawSIO(t, n, userToken(t, "fay"), "acks=1")
	if name, _ := again.event(); name != "connected" {
		t.Fatalf("first event %q", name)
	}
	second := n.send(t, "fay", "notification", map[string]any{"n": 2})
	mustStatus(t, second, 200)
	if p := again.read(); !strings.Contains(p, second.Body["messageId"].(string)) {
		t.Fatalf("after reconnecting, %s came first; want the second message (%v), not the first again", p, second.Body["messageId"])
	}
}

// rawSIO is a minimal Socket.IO client on Engine.IO's WebSocket transport,
// for what socket.io-client cannot be made to do: die without a word.
type rawSIO struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRawSIO(t *testing.T, n *node, tok string, query ...string) *rawSIO {
	t.Helper()
	u := strings.Replace(n.base, "http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
	for _, q := range query {
		u += "&" + q
	}
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

// TestSocketIOConnectionStateRecovery drops a Socket.IO client's network
// and brings it back to another node of the fleet. While it was away a
// channel message and a direct message were sent. socket.io-client
// recovers (socket.recovered), its subscription is restored without the
// application subscribing again, and it gets exactly what it missed: the
// direct message from the queue and the channel message from history, and
// nothing it had already read. With recovery off, the same run misses the
// channel message and gets the direct one it had read twice.
func TestSocketIOConnectionStateRecovery(t *testing.T) {
	_, nodes := startFleet(t, 2, "channels:\n  history:\n    news: {size: 10, ttl: 1m}\n")
	a, b := nodes[0], nodes[1]
	for _, transports := range []string{"websocket", "polling,websocket"} {
		t.Run(transports, func(t *testing.T) {
			user := "gus-" + strings.ReplaceAll(transports, ",", "-")
			ch := "news:" + user
			proxy := startDropProxy(t, strings.TrimPrefix(a.base, "http://"))
			signals := startSignals(t)
			done := make(chan nodeclient.Output, 1)
			go func() {
				out, err := nodeclient.Run(t, nodeWait, "recover.js", "SIO_URL=ws://"+proxy.addr(), "SIO_TOKEN="+userToken(t, user),
					"SIO_CHANNEL="+ch, "SIO_BEFORE=m1,u1", "SIO_EXPECT=m1,u1,m2,u2,m3", "SIO_TRANSPORTS="+transports,
					"SIO_SIGNAL_URL="+signals.url, "SIO_TIMEOUT_MS=20000")
				if err != nil {
					t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
				}
				done <- out
			}()
			subscribedOn := func(n *node) bool {
				r := call(t, "GET", n.base+"/ws/status/"+user, serviceToken(t), nil)
				chans, _ := r.Body["channels"].([]any)
				return len(chans) == 1
			}
			signals.await(t, "subscribed")
			publish := func(n *node, mark string) {
				r := call(t, "POST", n.base+"/ws/publish", serviceToken(t),
					map[string]any{"channel": ch, "type": "headline", "payload": map[string]any{"mark": mark}})
				mustStatus(t, r, 200)
			}
			publish(a, "m1")
			mustStatus(t, a.send(t, user, "notification", map[string]any{"mark": "u1"}), 200)
			signals.await(t, "read") // no pong has confirmed them
			proxy.setDown(true)
			proxy.route(strings.TrimPrefix(b.base, "http://"))
			proxy.drop()
			eventually(t, "node A to notice the drop", func() bool {
				r := call(t, "GET", b.base+"/ws/status/"+user, serviceToken(t), nil)
				n, _ := r.Body["connections"].(float64)
				return n == 0
			})
			publish(b, "m2")
			mustStatus(t, b.send(t, user, "notification", map[string]any{"mark": "u2"}), 200)
			proxy.setDown(false)
			// The script subscribes only once: this is the restored subscription.
			eventually(t, "the subscription restored on node B", func() bool { return subscribedOn(b) })
			publish(a, "m3")
			expectRecovered(t, <-done, "m1,u1,u2,m2,m3", "m1,u1 before the drop, u2,m2 missed and m3 live after it, each once")
		})
	}
}

// expectRecovered checks a recover.js run: its second connect recovered,
// and the marks of the events it got, in order, are want (comma-separated;
// what says why).
func expectRecovered(t *testing.T, out nodeclient.Output, want, what string) {
	t.Helper()
	var got []string
	recovered := false
	for _, l := range out.Lines {
		if l["step"] == "event" && l["mark"] != nil {
			got = append(got, l["mark"].(string))
		}
		if l["step"] == "connect" && l["n"] == float64(2) {
			recovered = l["recovered"] == true
		}
	}
	if !recovered {
		t.Errorf("socket.recovered is false after the drop\n%s", out.Stdout)
	}
	if marks := strings.Join(got, ","); marks != want {
		t.Errorf("marks %s, want %s: %s\n%s", marks, want, what, out.Stdout)
	}
}

// TestSocketIORecoveryReplaysWhatWasWrittenButNotRead has the network eat
// a channel message that the server wrote: the client never reads it,
// and its last read (its offset) is a direct message. Recovery must not
// start after the last channel message written, which the client never
// saw, but after the last one a pong proved it read, so the eaten message
// comes again.
func TestSocketIORecoveryReplaysWhatWasWrittenButNotRead(t *testing.T) {
	_, nodes := startFleet(t, 1, "socketIO: {pingInterval: 200ms, pingTimeout: 5s}\nchannels:\n  history:\n    news: {size: 10, ttl: 1m}\n")
	n := nodes[0]
	user, ch := "ivy", "news:ivy"
	proxy := startDropProxy(t, strings.TrimPrefix(n.base, "http://"))
	signals := startSignals(t)
	done := make(chan nodeclient.Output, 1)
	go func() {
		out, err := nodeclient.Run(t, nodeWait, "recover.js", "SIO_URL=ws://"+proxy.addr(), "SIO_TOKEN="+userToken(t, user),
			"SIO_CHANNEL="+ch, "SIO_BEFORE=m1,u1", "SIO_EXPECT=m1,u1,eaten,m2", "SIO_TRANSPORTS=websocket",
			"SIO_SIGNAL_URL="+signals.url, "SIO_TIMEOUT_MS=20000")
		if err != nil {
			t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		done <- out
	}()
	signals.await(t, "subscribed")
	publish := func(mark string) {
		r := call(t, "POST", n.base+"/ws/publish", serviceToken(t),
			map[string]any{"channel": ch, "type": "headline", "payload": map[string]any{"mark": mark}})
		mustStatus(t, r, 200)
	}
	publish("m1")
	mustStatus(t, n.send(t, user, "notification", map[string]any{"mark": "u1"}), 200)
	signals.await(t, "read")
	// A pong after u1 confirms it, and takes it out of the queue; it
	// confirms m1, written before it, too.
	eventually(t, "a pong to confirm u1", func() bool {
		r := call(t, "GET", n.base+"/ws/queue/"+user, serviceToken(t), nil)
		return r.Body["depth"] == float64(0)
	})
	proxy.watchFor("eaten")
	proxy.swallowReplies(true)
	publish("eaten")
	eventually(t, "the server to write the eaten message", func() bool { return proxy.watched() == 1 })
	proxy.setDown(true)
	proxy.drop()
	proxy.swallowReplies(false)
	connections := func() float64 {
		r := call(t, "GET", n.base+"/ws/status/"+user, serviceToken(t), nil)
		c, _ := r.Body["connections"].(float64)
		return c
	}
	eventually(t, "the node to notice the drop", func() bool { return connections() == 0 })
	proxy.setDown(false)
	eventually(t, "the client back", func() bool { return connections() == 1 })
	publish("m2")
	expectRecovered(t, <-done, "m1,u1,eaten,m2", "m1,u1 before the drop, the eaten message replayed, then m2")
}

// signals receives the steps a node script POSTs, so a test can act when
// the client has reached one.
type signals struct {
	url   string
	steps chan string
}

func startSignals(t *testing.T) *signals {
	t.Helper()
	s := &signals{steps: make(chan string, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.steps <- string(b)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *signals) await(t *testing.T, step string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case got := <-s.steps:
			if got == step {
				return
			}
		case <-timeout:
			t.Fatalf("the client never reached %q", step)
		}
	}
}

// TestSocketIOOriginAndCORS checks the Engine.IO handshake against
// CORS_ORIGINS, as a /ws upgrade is, and that allowed origins may send
// credentials to the Socket.IO path (socket.io-client's withCredentials)
// but not to the rest of the API.
func TestSocketIOOriginAndCORS(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.CORS.Origins = []string{"https://app.example.com"} })
	get := func(path, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.base+path, nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	const handshake = "/socket.io/?EIO=4&transport=polling"
	refused := get(handshake, "https://evil.example.com")
	var body struct{ Error struct{ Code string } }
	_ = json.NewDecoder(refused.Body).Decode(&body)
	if refused.StatusCode != http.StatusForbidden || body.Error.Code != "origin_not_allowed" {
		t.Fatalf("a foreign origin got %d %+v, want 403 origin_not_allowed", refused.StatusCode, body)
	}
	ok := get(handshake, "https://app.example.com")
	if ok.StatusCode != http.StatusOK || ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		ok.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("the allowed origin got %d with headers %v", ok.StatusCode, ok.Header)
	}
	if api := get("/health", "https://app.example.com"); api.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("credentials allowed outside the Socket.IO path: %v", api.Header)
	}
}

// TestSocketIOPollingOnTheWrongReplica moves a polling client's requests to
// another node of the fleet, as a load balancer without affinity would:
// its next request there gets Engine.IO's "Session ID unknown", and
// socket.io-client reconnects, to that node, and carries on.
func TestSocketIOPollingOnTheWrongReplica(t *testing.T) {
	_, nodes := startFleet(t, 2, "")
	a, b := nodes[0], nodes[1]
	proxy := startDropProxy(t, strings.TrimPrefix(a.base, "http://"))
	proxy.watchFor("Session ID unknown")
	signals := startSignals(t)
	done := make(chan nodeclient.Output, 1)
	go func() {
		out, err := nodeclient.Run(t, nodeWait, "flow.js", "SIO_URL=http://"+proxy.addr(), "SIO_TOKEN="+userToken(t, "hal"),
			"SIO_TRANSPORTS=polling", "SIO_NO_KEEPALIVE=1", "SIO_EXPECT_CONNECTS=2", "SIO_EXPECT_MARK=again",
			"SIO_SIGNAL_URL="+signals.url, "SIO_TIMEOUT_MS=20000")
		if err != nil {
			t.Errorf("%v\n%s\n%s", err, out.Stdout, out.Stderr)
		}
		done <- out
	}()
	// The client has read "connected": its session on node A is up at both ends.
	signals.await(t, "connected-1")
	proxy.route(strings.TrimPrefix(b.base, "http://"))
	// The pending long-poll on node A returns with this message; the
	// client's next request reaches node B.
	mustStatus(t, a.send(t, "hal", "notification", map[string]any{"mark": "first"}), 200)
	eventually(t, "node B to answer Session ID unknown", func() bool { return proxy.watched() > 0 })
	// Node A still holds the session it lost, until its ping timeout.
	signals.await(t, "connected-2")
	mustStatus(t, a.send(t, "hal", "notification", map[string]any{"mark": "again"}), 200)
	out := <-done
	var marks []string
	for _, l := range out.Lines {
		if l["step"] == "event" && l["event"] == "notification" {
			args, _ := l["args"].([]any)
			m, _ := args[0].(map[string]any)
			p, _ := m["payload"].(map[string]any)
			marks = append(marks, fmt.Sprint(p["mark"]))
		}
	}
	if strings.Join(marks, ",") != "first,again" {
		t.Fatalf("notifications %v, want first then again\n%s", marks, out.Stdout)
	}
}

// TestSocketIOKeepsItsOwnHeartbeat runs a node whose native heartbeat
// would close a silent connection after 300ms: a Socket.IO client, which
// speaks only when Engine.IO pings it (every 25s here), stays connected.
func TestSocketIOKeepsItsOwnHeartbeat(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Heartbeat = config.Heartbeat{Interval: config.Duration{Duration: 100 * time.Millisecond}, Timeout: config.Duration{Duration: 300 * time.Millisecond}}
	})
	c := dialRawSIO(t, n, userToken(t, "ivy"))
	c.event() // connected
	time.Sleep(time.Second)
	mustStatus(t, n.send(t, "ivy", "notification", map[string]any{"n": 1}), 200)
	if name, _ := c.event(); name != "notification" {
		t.Fatalf("got %q after a second of silence, want the message", name)
	}
}
