package engineio

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestShutdownClosesEverySession(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	hd, ps := ts.handshake()
	pending := ts.asyncGet(hd.SID)
	eventually(t, "GET to be pending", pollPending(ps))
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	ws := ts.socket()
	if err := ws.Send(Message{Data: []byte("last")}); err != nil {
		t.Fatal(err)
	}
	if n := ts.srv.Count(); n != 2 {
		t.Fatalf("Count %d with a polling and a WebSocket session open", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if code, body := awaitGet(t, pending); code != "200" || body != "1" {
		t.Errorf("pending GET: %s %q", code, body)
	}
	frames, _ := readUntilClosed(t, c)
	if len(frames) == 0 || frames[len(frames)-1] != "1" {
		t.Errorf("websocket frames %q, want the close packet last", frames)
	}
	for i := 0; i < 2; i++ {
		if ev := ts.closed(); ev.reason != ReasonServerShutdown {
			t.Errorf("reason %q", ev.reason)
		}
	}
	if n := ts.srv.Count(); n != 0 || trackedCount(ts.srv) != 0 {
		t.Errorf("after Shutdown: Count %d tracked %d", n, trackedCount(ts.srv))
	}
	if resp, _ := ts.do(http.MethodGet, ts.url("EIO=4&transport=polling"), ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("handshake after Shutdown: %d", resp.StatusCode)
	}
}

func TestShutdownDeadlineAborts(t *testing.T) {
	cfg := quietConfig()
	cfg.WriteTimeout = time.Minute // an idle polling session would wait this long
	ts := newTestServer(t, cfg)
	ts.handshake()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil before the session closed")
	}
	if ev := ts.closed(); ev.reason != ReasonServerShutdown {
		t.Errorf("reason %q", ev.reason)
	}
	eventually(t, "sessions to be released", func() bool { return trackedCount(ts.srv) == 0 })
}

func TestOnCloseRunsAfterMessagesAndOnce(t *testing.T) {
	events := make(chan string, 8)
	release := make(chan struct{})
	cfg := quietConfig()
	cfg.OnConnection = func(s *Socket) {
		s.OnMessage(func(data []byte, _ bool) {
			events <- "message"
			<-release // still handling when the session ends
			events <- "message done"
		})
		s.OnClose(func(reason string) { events <- "close " + reason })
	}
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	writeText(t, c, "4x")
	if e := <-events; e != "message" {
		t.Fatalf("event %q", e)
	}
	s.Abort()
	close(release)
	for _, want := range []string{"message done", "close forced close"} {
		select {
		case e := <-events:
			if e != want {
				t.Fatalf("event %q, want %q", e, want)
			}
		case <-time.After(testWait):
			t.Fatalf("no %q", want)
		}
	}
	// OnClose set after the session ended runs at once, with the reason.
	late := make(chan string, 1)
	s.OnClose(func(reason string) { late <- reason })
	if r := <-late; r != ReasonForcedClose {
		t.Errorf("late OnClose reason %q", r)
	}
}

// A session opened over WebSocket is not kept by its id: a polling request
// that names it is refused as one naming no session, and the session is
// unharmed.
func TestWebSocketSessionIsNotPolled(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	ws := ts.socket()
	code, body := ts.get(ws.ID())
	if code != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("GET with a WebSocket session's id: %d %s", code, body)
	}
	writeText(t, c, "4still here")
	if _, got := readFrame(t, c); got != "4still here" {
		t.Errorf("echo %q", got)
	}
}
