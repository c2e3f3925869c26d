package engineio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testWait bounds every wait in the tests; nothing here should come close.
const testWait = 5 * time.Second

type closeEvent struct {
	sid    string
	reason string
}

// testServer is a Server behind httptest with an echo OnConnection by
// default. It records sessions and close reasons.
type testServer struct {
	t      *testing.T
	srv    *Server
	hs     *httptest.Server
	client *http.Client
	conns  chan *Socket
	closes chan closeEvent
}

// quietConfig keeps pings out of the way of tests that do not test them.
func quietConfig() Config {
	return Config{PingInterval: time.Minute, PingTimeout: time.Minute, WriteTimeout: 250 * time.Millisecond}
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{
		t:      t,
		conns:  make(chan *Socket, 16),
		closes: make(chan closeEvent, 16),
		client: &http.Client{Timeout: testWait},
	}
	if cfg.OnConnection == nil {
		cfg.OnConnection = func(s *Socket) {
			s.OnMessage(func(data []byte, binary bool) {
				_ = s.Send(Message{Data: append([]byte(nil), data...), Binary: binary})
			})
		}
	}
	user := cfg.OnConnection
	cfg.OnConnection = func(s *Socket) {
		s.OnClose(func(reason string) { ts.closes <- closeEvent{s.ID(), reason} })
		user(s)
		ts.conns <- s
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts.srv = srv
	mux := http.NewServeMux()
	mux.Handle(srv.cfg.Path, srv)
	ts.hs = httptest.NewServer(mux)
	// Cleanups run last-in first-out: Shutdown ends pending long-polls
	// before httptest.Server.Close waits for in-flight requests.
	t.Cleanup(ts.hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts
}

func (ts *testServer) url(query string) string {
	return ts.hs.URL + ts.srv.cfg.Path + "?" + query
}

func (ts *testServer) pollURL(sid string) string {
	return ts.url("EIO=4&transport=polling&sid=" + url.QueryEscape(sid))
}

func (ts *testServer) do(method, u, body string) (*http.Response, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		ts.t.Fatalf("new request: %v", err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func (ts *testServer) get(sid string) (int, string) {
	ts.t.Helper()
	resp, body := ts.do(http.MethodGet, ts.pollURL(sid), "")
	return resp.StatusCode, body
}

func (ts *testServer) post(sid, payload string) (int, string) {
	ts.t.Helper()
	resp, body := ts.do(http.MethodPost, ts.pollURL(sid), payload)
	return resp.StatusCode, body
}

// handshake opens a polling session and returns its handshake data and
// server-side socket.
func (ts *testServer) handshake() (handshakeData, *Socket) {
	ts.t.Helper()
	resp, body := ts.do(http.MethodGet, ts.url("EIO=4&transport=polling"), "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "0") {
		ts.t.Fatalf("handshake: %d %q", resp.StatusCode, body)
	}
	var hd handshakeData
	if err := json.Unmarshal([]byte(body[1:]), &hd); err != nil {
		ts.t.Fatalf("handshake JSON %q: %v", body, err)
	}
	return hd, ts.socket()
}

func (ts *testServer) socket() *Socket {
	ts.t.Helper()
	select {
	case s := <-ts.conns:
		return s
	case <-time.After(testWait):
		ts.t.Fatal("no OnConnection")
		return nil
	}
}

func (ts *testServer) closed() closeEvent {
	ts.t.Helper()
	select {
	case ev := <-ts.closes:
		return ev
	case <-time.After(testWait):
		ts.t.Fatal("no OnClose")
		return closeEvent{}
	}
}

// asyncGet starts a GET and returns a channel with its status and body.
func (ts *testServer) asyncGet(sid string) <-chan [2]string {
	ch := make(chan [2]string, 1)
	go func() {
		resp, err := ts.client.Get(ts.pollURL(sid))
		if err != nil {
			ch <- [2]string{"error", err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- [2]string{resp.Status[:3], string(b)}
	}()
	return ch
}

func awaitGet(t *testing.T, ch <-chan [2]string) (string, string) {
	t.Helper()
	select {
	case r := <-ch:
		return r[0], r[1]
	case <-time.After(testWait):
		t.Fatal("GET did not return")
		return "", ""
	}
}

// eventually polls cond until it holds; the bound only guards against hangs.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pollPending(s *Socket) func() bool {
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll.wake != nil
	}
}

func (ts *testServer) dial(query string) *websocket.Conn {
	ts.t.Helper()
	u := "ws" + strings.TrimPrefix(ts.url(query), "http")
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		ts.t.Fatalf("dial %s: %v (resp %v)", u, err, resp)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

func readFrame(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testWait))
	mt, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return mt, string(b)
}

func writeText(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// readUntilClosed reads until the server closes the connection and
// returns the text frames seen before and the read error.
func readUntilClosed(t *testing.T, c *websocket.Conn) ([]string, error) {
	t.Helper()
	var frames []string
	_ = c.SetReadDeadline(time.Now().Add(testWait))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection not closed; frames %q", frames)
			}
			return frames, err
		}
		frames = append(frames, string(b))
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
