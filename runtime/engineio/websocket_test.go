package engineio

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// dialHeartbeat opens a WebSocket session on a server that pings every
// interval and waits timeout for the pong, and reads the open packet.
func dialHeartbeat(t *testing.T, interval, timeout time.Duration) (*testServer, *websocket.Conn) {
	t.Helper()
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = interval, timeout
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c) // open
	return ts, c
}

func TestWebSocketHeartbeat(t *testing.T) {
	ts, c := dialHeartbeat(t, 50*time.Millisecond, 150*time.Millisecond)
	for i := 0; i < 3; i++ {
		if _, got := readFrame(t, c); got != "2" {
			t.Fatalf("round %d: %q, want ping", i, got)
		}
		writeText(t, c, "3")
	}
	// Stop answering: the server closes the connection.
	frames, _ := readUntilClosed(t, c)
	for _, f := range frames {
		if f != "2" {
			t.Errorf("unexpected frame %q before close", f)
		}
	}
	if ev := ts.closed(); ev.reason != ReasonPingTimeout {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestWebSocketParseError(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	writeText(t, c, "abc")
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("connection still open")
	}
	if ev := ts.closed(); ev.reason != ReasonParseError {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestWebSocketClientClosePacket(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	writeText(t, c, "1")
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("connection still open")
	}
	if ev := ts.closed(); ev.reason != ReasonTransportClose {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestWebSocketMaxPayload(t *testing.T) {
	cfg := quietConfig()
	cfg.MaxPayload = 64
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	writeText(t, c, "4"+strings.Repeat("x", 63))
	if _, got := readFrame(t, c); len(got) != 64 {
		t.Fatalf("echo of a MaxPayload frame: %d bytes", len(got))
	}
	writeText(t, c, "4"+strings.Repeat("x", 64))
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("connection still open")
	}
	if ev := ts.closed(); ev.reason != ReasonTransportError {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestWebSocketServerCloseSendsQueuedThenClose(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	written := 0
	for i := 0; i < 5; i++ {
		if err := s.Send(Message{Data: []byte(strconv.Itoa(i)), OnWritten: func() { written++ }}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	frames, err := readUntilClosed(t, c)
	if want := []string{"40", "41", "42", "43", "44", "1"}; strings.Join(frames, ",") != strings.Join(want, ",") {
		t.Errorf("frames %q, want %q", frames, want)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("close error %v, want a normal close frame", err)
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
	if !s.WaitIdle(testWait) || written != 5 {
		t.Errorf("written %d", written)
	}
}

// TestServerCloseReachesAClientStillSending: the server ends a session
// while frames the client sent wait unread in the socket, as they do for
// a client closed for flooding, and while the client, reading slowly, has
// not taken everything the server wrote. Closing a TCP connection with
// unread data in it sends a reset at once, and what was still in the
// server's send buffer never leaves. The connection stays open for
// closeLinger instead, so the last message, the close packet and the close
// frame all reach the client.
func TestServerCloseReachesAClientStillSending(t *testing.T) {
	held, hold := make(chan struct{}, 1), make(chan struct{})
	cfg := quietConfig()
	cfg.WriteTimeout = testWait
	cfg.OnConnection = func(s *Socket) {
		s.OnMessage(func([]byte, bool) {
			select {
			case held <- struct{}{}:
			default:
			}
			<-hold // the reader reads nothing more meanwhile
		})
	}
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	defer close(hold)
	writeText(t, c, "4first")
	<-held
	for range 64 {
		writeText(t, c, "4"+strings.Repeat("x", 1024))
	}
	const messages = 40
	for i := range messages {
		if err := s.Send(Message{Data: []byte(strconv.Itoa(i) + strings.Repeat(".", 16<<10))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(Message{Data: []byte("last")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var frames []string
	_ = c.SetReadDeadline(time.Now().Add(testWait))
	for {
		time.Sleep(time.Millisecond) // a slow reader: the server's writes get ahead of it
		_, b, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
				t.Errorf("after %d frames: %v, want a normal close frame", len(frames), err)
			}
			break
		}
		frames = append(frames, string(b[:min(len(b), 8)]))
	}
	if len(frames) != messages+2 || strings.Join(frames[messages:], ",") != "4last,1" {
		t.Errorf("%d frames, ending %q; want %d ending with 4last and 1", len(frames), frames[max(0, len(frames)-3):], messages+2)
	}
}

// TestDeafenedSessionReadsNothingMore: after Deafen, what the client sends
// reaches no handler, while what was queued for it is still written, and
// Close still ends the session with its close packet.
func TestDeafenedSessionReadsNothingMore(t *testing.T) {
	got := make(chan string, 16)
	cfg := quietConfig()
	cfg.OnConnection = func(s *Socket) {
		s.OnMessage(func(data []byte, _ bool) { got <- string(data) })
	}
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	writeText(t, c, "4before")
	if m := <-got; m != "before" {
		t.Fatalf("got %q", m)
	}
	s.Deafen()
	for range 3 {
		writeText(t, c, "4after")
	}
	if err := s.Send(Message{Data: []byte("queued")}); err != nil {
		t.Fatal(err)
	}
	if _, f := readFrame(t, c); f != "4queued" {
		t.Fatalf("frame %q, want 4queued", f)
	}
	s.Close()
	if frames, _ := readUntilClosed(t, c); strings.Join(frames, ",") != "1" {
		t.Errorf("frames after Close %q, want the close packet", frames)
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
	select {
	case m := <-got:
		t.Errorf("a deaf session handled %q", m)
	default:
	}
}

// TestOnConnectionBeforeRead: a client that sends right after the open
// packet loses nothing, because OnConnection runs before the first read,
// and handlers run one at a time in order.
func TestOnConnectionBeforeRead(t *testing.T) {
	got := make(chan string, 200)
	cfg := quietConfig()
	cfg.OnConnection = func(s *Socket) {
		time.Sleep(20 * time.Millisecond) // a slow handler setup
		inFlight := 0
		s.OnMessage(func(data []byte, _ bool) {
			inFlight++
			if inFlight != 1 {
				t.Error("OnMessage called concurrently")
			}
			got <- string(data)
			inFlight--
		})
	}
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	for i := 0; i < 100; i++ {
		writeText(t, c, "4"+strconv.Itoa(i))
	}
	for i := 0; i < 100; i++ {
		select {
		case m := <-got:
			if m != strconv.Itoa(i) {
				t.Fatalf("message %d = %q", i, m)
			}
		case <-time.After(testWait):
			t.Fatalf("only %d messages arrived", i)
		}
	}
}

func TestAbortClosesAtOnce(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	s.Abort()
	if _, err := readUntilClosed(t, c); err == nil {
		t.Fatal("connection still open")
	}
	if ev := ts.closed(); ev.reason != ReasonForcedClose {
		t.Errorf("reason %q", ev.reason)
	}
	if !s.Closed() || ts.srv.Count() != 0 {
		t.Errorf("Closed %v Count %d", s.Closed(), ts.srv.Count())
	}
	s.Abort()
	s.Close() // both idempotent; OnClose ran once (checked by closes being empty)
	select {
	case ev := <-ts.closes:
		t.Errorf("second OnClose %+v", ev)
	case <-time.After(20 * time.Millisecond):
	}
}

// A scheduler given in Config runs the heartbeats, one entry per session,
// and is not stopped by Shutdown.
func TestHeartbeatOnASharedScheduler(t *testing.T) {
	sched := schedule.New()
	t.Cleanup(sched.Close)
	cfg := quietConfig()
	cfg.Scheduler = sched
	cfg.PingInterval, cfg.PingTimeout = 50*time.Millisecond, 150*time.Millisecond
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c) // open
	<-ts.conns
	if n := sched.Len(); n != 1 {
		t.Fatalf("scheduler holds %d entries, want the session's one", n)
	}
	if _, got := readFrame(t, c); got != "2" {
		t.Fatalf("%q, want ping", got)
	}
	writeText(t, c, "3")
	_ = c.Close()
	ts.closed()
	eventually(t, "the ended session's entry to go", func() bool { return sched.Len() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	sched.At(time.Now(), func() { close(done) })
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("Shutdown stopped the scheduler it was given")
	}
}

// A pong read by the reader itself (takePong) leaves the frames behind it
// to gorilla/websocket, in order, and still confirms the heartbeat.
func TestPongThenMessagesInOneRead(t *testing.T) {
	ts, c := dialHeartbeat(t, 200*time.Millisecond, 300*time.Millisecond)
	for i := 0; i < 3; i++ {
		if _, got := readFrame(t, c); got != "2" {
			t.Fatalf("round %d: %q, want ping", i, got)
		}
		writeText(t, c, "3")
		writeText(t, c, "4after pong "+strconv.Itoa(i))
		writeText(t, c, "3") // a stray pong: nothing awaits it
		if _, got := readFrame(t, c); got != "4after pong "+strconv.Itoa(i) {
			t.Fatalf("round %d: echo %q", i, got)
		}
	}
	select {
	case ev := <-ts.closes:
		t.Fatalf("session closed (%s) though every ping was answered", ev.reason)
	default:
	}
}

// maskedText frames payload as a client's masked text frame.
func maskedText(payload string) []byte {
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	f := []byte{0x80 | opText}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		panic("test frame too large")
	}
	f = append(f, mask[:]...)
	for i := 0; i < len(payload); i++ {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}

// The reader lends its read buffer only while it reads (parker): frames
// that arrive in pieces, larger than the buffer, or several to one read
// all arrive whole and in order, and the heartbeat holds.
func TestFramesAcrossBorrowedBuffers(t *testing.T) {
	ts, c := dialHeartbeat(t, 300*time.Millisecond, 2*time.Second)
	nc := c.NetConn()
	write := func(parts ...[]byte) {
		for _, p := range parts {
			if _, err := nc.Write(p); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // the reader wakes on each part
		}
	}
	large := "4" + strings.Repeat("x", 3*wsReadBufferSize)
	for i := 0; i < 3; i++ {
		if _, got := readFrame(t, c); got != "2" {
			t.Fatalf("round %d: %q, want ping", i, got)
		}
		pong := maskedText("3")
		write(pong[:3], pong[3:]) // a pong split inside its mask
		f := maskedText(large)
		write(f[:1], f[1:600], f[600:])
		write(append(maskedText("4one"), maskedText("4two")...))
		for _, want := range []string{large, "4one", "4two"} {
			if _, got := readFrame(t, c); got != want {
				t.Fatalf("round %d: echo of %d bytes, want %d (%.10q)", i, len(got), len(want), want)
			}
		}
	}
	select {
	case ev := <-ts.closes:
		t.Fatalf("session closed (%s) though every ping was answered", ev.reason)
	default:
	}
}
