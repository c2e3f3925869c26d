package engineio

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPollingBatching(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()

	resp, body := ts.do(http.MethodPost, ts.pollURL(hd.SID), "4test1\x1e4test2\x1e4test3")
	if resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html" {
		t.Errorf("POST Content-Type %q", ct)
	}
	// The echo handler queued three messages; one GET returns them all.
	if code, body := ts.get(hd.SID); code != 200 || body != "4test1\x1e4test2\x1e4test3" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if s.QueuedBytes() != 0 {
		t.Errorf("QueuedBytes after GET = %d", s.QueuedBytes())
	}
}

func TestPollingBinary(t *testing.T) {
	got := make(chan [2]any, 4)
	cfg := quietConfig()
	cfg.OnConnection = func(s *Socket) {
		s.OnMessage(func(data []byte, binary bool) {
			got <- [2]any{string(data), binary}
			_ = s.Send(Message{Data: append([]byte(nil), data...), Binary: binary})
		})
	}
	ts := newTestServer(t, cfg)
	hd, _ := ts.handshake()

	if code, body := ts.post(hd.SID, "4hello\x1ebAQIDBA=="); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	for _, want := range [][2]any{{"hello", false}, {"\x01\x02\x03\x04", true}} {
		if g := <-got; g != want {
			t.Errorf("OnMessage got %q, want %q", g, want)
		}
	}
	if code, body := ts.get(hd.SID); code != 200 || body != "4hello\x1ebAQIDBA==" {
		t.Fatalf("GET: %d %q", code, body)
	}
}

func TestPollingLongPollWaitsForSend(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	res := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending", pollPending(s))
	written := make(chan struct{})
	if err := s.Send(Message{Data: []byte("late"), OnWritten: func() { close(written) }}); err != nil {
		t.Fatal(err)
	}
	if code, body := awaitGet(t, res); code != "200" || body != "4late" {
		t.Fatalf("GET: %s %q", code, body)
	}
	select {
	case <-written:
	case <-time.After(testWait):
		t.Fatal("OnWritten not called")
	}
	if !s.WaitIdle(testWait) {
		t.Error("WaitIdle false after the GET completed")
	}
}

func TestPollingConcurrentGetClosesSession(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	first := ts.asyncGet(hd.SID)
	eventually(t, "first GET to be pending", pollPending(s))

	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("second GET status %d, want 400", code)
	}
	if code, body := awaitGet(t, first); code != "200" || body != "1" {
		t.Errorf("first GET: %s %q, want the close packet", code, body)
	}
	if ev := ts.closed(); ev.reason != ReasonTransportError {
		t.Errorf("reason %q", ev.reason)
	}
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after close: %d", code)
	}
}

func TestPollingClientClose(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	pending := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending", pollPending(s))
	if code, body := ts.post(hd.SID, "1"); code != 200 || body != "ok" {
		t.Fatalf("POST close: %d %q", code, body)
	}
	if code, body := awaitGet(t, pending); code != "200" || body != "6" {
		t.Errorf("pending GET: %s %q, want noop", code, body)
	}
	if ev := ts.closed(); ev.reason != ReasonTransportClose || ev.sid != hd.SID {
		t.Errorf("close event %+v", ev)
	}
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after close: %d", code)
	}
	if !s.Closed() || ts.srv.Count() != 0 {
		t.Errorf("Closed %v Count %d", s.Closed(), ts.srv.Count())
	}
}

func TestPollingParseError(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, _ := ts.handshake()
	if code, _ := ts.post(hd.SID, "abc"); code != http.StatusBadRequest {
		t.Errorf("bad payload status %d", code)
	}
	if ev := ts.closed(); ev.reason != ReasonParseError {
		t.Errorf("reason %q", ev.reason)
	}
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after parse error: %d", code)
	}
}

func TestPollingMaxPayload(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxPayload = 100
	ts := newTestServer(t, cfg)
	hd, _ := ts.handshake()
	if hd.MaxPayload != 100 {
		t.Errorf("announced maxPayload %d", hd.MaxPayload)
	}
	if code, _ := ts.post(hd.SID, "4"+strings.Repeat("x", 99)); code != 200 {
		t.Fatalf("POST of exactly MaxPayload: %d", code)
	}
	if code, _ := ts.post(hd.SID, "4"+strings.Repeat("x", 100)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST over MaxPayload: %d, want 413", code)
	}
	if ev := ts.closed(); ev.reason != ReasonTransportError {
		t.Errorf("reason %q", ev.reason)
	}
}

// A session closed for what its client sent reports the client's address
// to OnBadInput, once: a body over MaxPayload, an undecodable payload, a
// Reject from the layer above. One that ends otherwise, overlapping polls
// included, reports nothing.
func TestBadInputIsReported(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxPayload = 100
	reported := make(chan string, 8)
	cfg.OnBadInput = func(addr string) { reported <- addr }
	ts := newTestServer(t, cfg)
	expect := func(what string) {
		t.Helper()
		select {
		case addr := <-reported:
			if !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Fatalf("%s: reported %q", what, addr)
			}
		case <-time.After(testWait):
			t.Fatalf("%s: not reported", what)
		}
		ts.closed()
	}
	hd, _ := ts.handshake()
	_, _ = ts.post(hd.SID, "4"+strings.Repeat("x", 100))
	expect("a body over MaxPayload")
	hd, _ = ts.handshake()
	_, _ = ts.post(hd.SID, "9nonsense")
	expect("an undecodable payload")
	_, s := ts.handshake()
	s.Reject()
	s.Reject()
	expect("a Reject")
	_, s = ts.handshake()
	s.Close()
	ts.closed()
	// Two GETs at once end the session, unreported: a network fault can
	// make a client's next poll overlap one the server has not seen end.
	hd, s = ts.handshake()
	first := ts.asyncGet(hd.SID)
	eventually(t, "first GET to be pending", pollPending(s))
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Fatalf("second GET status %d, want 400", code)
	}
	awaitGet(t, first)
	ts.closed()
	select {
	case addr := <-reported:
		t.Fatalf("reported %q more than once, for a session closed by the server, or for overlapping polls", addr)
	default:
	}
}

func TestPollingCancelledGetClosesSession(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.pollURL(hd.SID), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := ts.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	eventually(t, "GET to be pending", pollPending(s))
	cancel()
	<-done
	if ev := ts.closed(); ev.reason != ReasonTransportError {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestPollingHeartbeat(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 50*time.Millisecond, 150*time.Millisecond
	ts := newTestServer(t, cfg)
	hd, _ := ts.handshake()
	for i := 0; i < 3; i++ {
		if code, body := ts.get(hd.SID); code != 200 || body != "2" {
			t.Fatalf("round %d GET: %d %q, want ping", i, code, body)
		}
		// The next round's ping comes only once this pong is handled.
		if code, _ := ts.post(hd.SID, "3"); code != 200 {
			t.Fatalf("round %d pong POST: %d", i, code)
		}
	}
	// Stop answering: the session ends with "ping timeout".
	if ev := ts.closed(); ev.reason != ReasonPingTimeout {
		t.Errorf("reason %q", ev.reason)
	}
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after ping timeout: %d", code)
	}
}

func TestPollingServerClose(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, s := ts.handshake()
	pending := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending", pollPending(s))
	// Hold the GET's wake-up until both are queued, so one response
	// carries the message and the close packet.
	s.mu.Lock()
	wake := s.poll.wake
	s.poll.wake = nil
	s.mu.Unlock()
	if err := s.Send(Message{Data: []byte("bye")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	if err := s.Send(Message{Data: []byte("late")}); err != ErrClosed {
		t.Errorf("Send after Close: %v", err)
	}
	close(wake)
	if code, body := awaitGet(t, pending); code != "200" || body != "4bye\x1e1" {
		t.Errorf("GET: %s %q", code, body)
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
	if code, _ := ts.get(hd.SID); code != http.StatusBadRequest {
		t.Errorf("GET after close: %d", code)
	}
}

func TestPollingCloseWithoutGetTimesOut(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	_, s := ts.handshake()
	s.Close()
	// No GET comes to fetch the close packet: WriteTimeout ends it.
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestSendQueueBoundAndDropPending(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxQueueBytes = 10
	ts := newTestServer(t, cfg)
	hd, s := ts.handshake()
	if err := s.Send(Message{Data: []byte("123456"), Tag: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(Message{Data: []byte("123456"), Tag: "b"}); err != ErrQueueFull {
		t.Fatalf("Send over MaxQueueBytes: %v", err)
	}
	if err := s.Send(Message{Data: []byte("1234"), Tag: nil}); err != nil {
		t.Fatal(err)
	}
	if n := s.QueuedBytes(); n != 10 {
		t.Errorf("QueuedBytes = %d", n)
	}
	// The tagged message goes; the untagged one, sent once, stays.
	tags := s.DropPending()
	if len(tags) != 1 || tags[0] != "a" || s.QueuedBytes() != 4 {
		t.Errorf("DropPending = %v, QueuedBytes %d", tags, s.QueuedBytes())
	}
	if err := s.Send(Message{Data: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if code, body := ts.get(hd.SID); code != 200 || body != "41234\x1e4after" {
		t.Errorf("GET after DropPending: %d %q", code, body)
	}
	s.Abort()
	if err := s.Send(Message{Data: []byte("x")}); err != ErrClosed {
		t.Errorf("Send after Abort: %v", err)
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
}
