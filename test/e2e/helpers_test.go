package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/runtime/logging"
	"github.com/fleetwire/fleetwire/runtime/server"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// testSecret signs every test token.
const testSecret = "e2e-test-secret-0123456789abcdef-0123456789"

// wait bounds every blocking step of a test; it is generous because the
// machine is shared, and no test asserts on speed.
const wait = 10 * time.Second

// node is one in-process runtime on a loopback port.
type node struct {
	srv  *server.Server
	base string // http://127.0.0.1:port
	logs *testproc.Buffer
	done chan error
}

// startNode runs a runtime with test defaults adjusted by mutate. It is shut
// down when the test ends.
func startNode(t *testing.T, mutate func(*config.Config)) *node { return startNodeB(t, mutate) }

// startNodeB is startNode for tests and benchmarks.
func startNodeB(t testing.TB, mutate func(*config.Config)) *node {
	t.Helper()
	cfg := config.Default()
	cfg.Auth.Secret = testSecret
	cfg.Log.Level = "debug"
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	logs := &testproc.Buffer{}
	log, _, err := logging.New(cfg.Log.Level, logs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(&cfg, server.Options{Logger: log, Version: "test"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{srv: srv, base: "http://" + ln.Addr().String(), logs: logs, done: make(chan error, 1)}
	go func() { n.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-n.done
		if t.Failed() {
			t.Logf("runtime logs:\n%s", logs.String())
		}
	})
	return n
}

func (n *node) wsURL(query string) string {
	u := strings.Replace(n.base, "http://", "ws://", 1) + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// token signs an HS256 test token valid for an hour unless req says otherwise.
func token(t testing.TB, req auth.TokenRequest) string {
	t.Helper()
	if req.TTL == 0 {
		req.TTL = time.Hour
	}
	tok, err := auth.SignHS256([]byte(testSecret), req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func userToken(t testing.TB, user string) string {
	return token(t, auth.TokenRequest{UserID: user})
}

func serviceToken(t testing.TB) string {
	return token(t, auth.TokenRequest{UserID: "backend", Roles: []string{auth.RoleService}})
}

// frame is a server frame as a client sees it.
type frame struct {
	Event string          `json:"event"`
	ID    *uint64         `json:"id"`
	Data  json.RawMessage `json:"data"`
}

func (f frame) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Data, v); err != nil {
		t.Fatalf("decoding %s data %s: %v", f.Event, f.Data, err)
	}
}

// appMessage is the data of an application message event.
type appMessage struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	Priority  string          `json:"priority"`
	Timestamp string          `json:"timestamp"`
	Channel   string          `json:"channel"`
	Queued    bool            `json:"queued"`
}

type errorData struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs"`
}

// client is a real gorilla/websocket client.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	nextID uint64
	conn   connectedData
}

type connectedData struct {
	ConnectionID        string `json:"connectionId"`
	UserID              string `json:"userId"`
	ServerTime          string `json:"serverTime"`
	HeartbeatIntervalMs int64  `json:"heartbeatIntervalMs"`
}

// dialRaw performs the upgrade and returns the socket or the HTTP refusal.
func dialRaw(t *testing.T, n *node, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	return d.Dial(n.wsURL(query), header)
}

// dial connects with tok in the Authorization header and consumes the
// "connected" event.
func dial(t *testing.T, n *node, tok string) *client {
	t.Helper()
	c := dialB(t, n, tok)
	c.t = t
	f := c.expect("connected")
	f.decode(t, &c.conn)
	return c
}

// dialB connects without reading anything; benchmarks use it.
func dialB(t testing.TB, n *node, tok string) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, resp, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial: %v %s", err, body)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &client{ws: ws}
}

// subscribeB skips "connected" and subscribes, for benchmarks.
func (c *client) subscribeB(b testing.TB, ch string) {
	b.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := c.ws.ReadMessage(); err != nil {
		b.Fatal(err)
	}
	if err := c.ws.WriteJSON(map[string]any{"event": "subscribe", "id": 1, "data": map[string]any{"channels": []string{ch}}}); err != nil {
		b.Fatal(err)
	}
	if _, p, err := c.ws.ReadMessage(); err != nil || !strings.Contains(string(p), `"ok":true`) {
		b.Fatalf("subscribe: %s %v", p, err)
	}
	_ = c.ws.SetReadDeadline(time.Time{})
}

// next reads one frame.
func (c *client) next() (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	_, p, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(p, &f); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", p, err)
	}
	return f, nil
}

// expect reads frames until one with the event arrives and fails on any
// other frame, so unexpected traffic is caught.
func (c *client) expect(event string) frame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %q: %v", event, err)
	}
	if f.Event != event {
		c.t.Fatalf("got event %q (data %s), want %q", f.Event, f.Data, event)
	}
	return f
}

// expectMessage reads the next application message of the given type.
func (c *client) expectMessage(typ string) appMessage {
	c.t.Helper()
	var m appMessage
	c.expect(typ).decode(c.t, &m)
	return m
}

// expectClose reads until the server closes and returns the close code.
func (c *client) expectClose() (int, string) {
	c.t.Helper()
	ce := readToClose(c.t, c.ws)
	return ce.Code, ce.Text
}

// readToClose reads ws until the server closes it, and returns the close
// frame; a connection that ends without one fails the test.
func readToClose(t *testing.T, ws *websocket.Conn) *websocket.CloseError {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(wait))
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func (c *client) emit(event string, data any) {
	c.t.Helper()
	c.write(map[string]any{"event": event, "data": data})
}

func (c *client) write(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends an event with an id and returns the reply with that id.
func (c *client) request(event string, data any) frame {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.write(map[string]any{"event": event, "data": data, "id": id})
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for reply to %s #%d: %v", event, id, err)
		}
		if f.ID != nil && *f.ID == id {
			if f.Event != "ack" && f.Event != "error" {
				c.t.Fatalf("reply to #%d has event %q", id, f.Event)
			}
			return f
		}
		c.t.Fatalf("unexpected frame %q %s while waiting for reply #%d", f.Event, f.Data, id)
	}
}

type channelResult struct {
	Channel string     `json:"channel"`
	OK      bool       `json:"ok"`
	Error   *errorData `json:"error"`
}

// subscribe subscribes and returns the per-channel results.
func (c *client) subscribe(channels ...string) []channelResult {
	c.t.Helper()
	f := c.request("subscribe", map[string]any{"channels": channels})
	if f.Event != "ack" {
		c.t.Fatalf("subscribe %v: %s %s", channels, f.Event, f.Data)
	}
	var r struct {
		Results []channelResult `json:"results"`
	}
	f.decode(c.t, &r)
	return r.Results
}

// apiResult is an HTTP response with its decoded JSON body.
type apiResult struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r apiResult) errorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r apiResult) errorField() string {
	e, _ := r.Body["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

func call(t *testing.T, method, u, tok string, body any) apiResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return rawCall(t, req)
}

// rawCall sends a request as it is and reads the API's answer.
func rawCall(t *testing.T, req *http.Request) apiResult {
	t.Helper()
	method, u := req.Method, req.URL.String()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &res.Body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, u, raw)
		}
	}
	return res
}

// send posts a message to a user and returns the API's answer.
func (n *node) send(t *testing.T, user, typ string, payload any) apiResult {
	t.Helper()
	return call(t, "POST", n.base+"/ws/send/"+url.PathEscape(user), serviceToken(t),
		map[string]any{"type": typ, "payload": payload})
}

func mustStatus(t *testing.T, r apiResult, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Raw)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fmtPayload(i int) map[string]any {
	return map[string]any{"seq": i, "text": fmt.Sprintf("message %d", i)}
}

// tryCall is call without failing the test on a transport error, for
// endpoints that may be going away.
func tryCall(u, tok string, body any) (apiResult, error) {
	j, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", u, bytes.NewReader(j))
	if err != nil {
		return apiResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiResult{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &res.Body)
	return res, nil
}
