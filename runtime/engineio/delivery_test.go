package engineio

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A pong confirms what was written before its ping: OnDelivered runs, and
// DropPending no longer hands the message back.
func TestPongConfirmsDelivery(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, time.Second
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c) // open
	s := ts.socket()
	var delivered atomic.Int32
	if err := s.Send(Message{Data: []byte("hello"), Tag: "m1", OnDelivered: func() { delivered.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	if _, got := readFrame(t, c); got != "4hello" {
		t.Fatalf("got %q", got)
	}
	if delivered.Load() != 0 {
		t.Fatal("delivered before any pong")
	}
	if _, got := readFrame(t, c); got != "2" {
		t.Fatalf("got %q, want a ping", got)
	}
	writeText(t, c, "3")
	eventually(t, "OnDelivered after the pong", func() bool { return delivered.Load() == 1 })
	if tags := s.DropPending(); len(tags) != 0 {
		t.Errorf("DropPending after the pong = %v, want nothing", tags)
	}
}

// A message written to a client that never answers is not known to have
// arrived: DropPending hands it back, oldest first, ahead of unwritten ones.
func TestUnconfirmedMessagesAreHandedBack(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, time.Minute
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	delivered := false
	_ = s.Send(Message{Data: []byte("a"), Tag: "a", OnDelivered: func() { delivered = true }})
	_ = s.Send(Message{Data: []byte("b"), Tag: "b"})
	readFrame(t, c)
	readFrame(t, c)
	if _, got := readFrame(t, c); got != "2" {
		t.Fatalf("got %q, want a ping", got)
	}
	// No pong: the client may have died with the messages in flight.
	s.Abort()
	if tags := s.DropPending(); !slices.Equal(tags, []any{"a", "b"}) {
		t.Errorf("DropPending = %v, want [a b]", tags)
	}
	if delivered {
		t.Error("OnDelivered ran without a pong")
	}
}

// A graceful close with messages awaiting confirmation asks for a last
// pong before the close packet, so what the client read is confirmed.
func TestCloseWaitsForALastPong(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	var delivered atomic.Int32
	_ = s.Send(Message{Data: []byte("bye"), Tag: "bye", OnDelivered: func() { delivered.Add(1) }})
	s.Close()
	for _, want := range []string{"4bye", "2"} {
		if _, got := readFrame(t, c); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	writeText(t, c, "3")
	if _, got := readFrame(t, c); got != "1" {
		t.Fatalf("got %q, want the close packet", got)
	}
	eventually(t, "OnDelivered", func() bool { return delivered.Load() == 1 })
	if tags := s.DropPending(); len(tags) != 0 {
		t.Errorf("DropPending = %v after the last pong", tags)
	}
}

// Without an answer to the last ping, the close goes out after PingTimeout
// and the message is handed back.
func TestCloseWithoutALastPong(t *testing.T) {
	cfg := quietConfig()
	cfg.PingTimeout = 100 * time.Millisecond
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	_ = s.Send(Message{Data: []byte("x"), Tag: "x"})
	s.Close()
	frames, _ := readUntilClosed(t, c)
	if !slices.Equal(frames, []string{"4x", "2", "1"}) {
		t.Fatalf("frames %q, want the message, a ping, then close", frames)
	}
	ts.closed()
	if tags := s.DropPending(); !slices.Equal(tags, []any{"x"}) {
		t.Errorf("DropPending = %v, want [x]", tags)
	}
}

// Over polling, the GET that carried the message counts as written; the
// pong POSTed after the next ping confirms it.
func TestPollingPongConfirmsDelivery(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, time.Second
	ts := newTestServer(t, cfg)
	hs, s := ts.handshake()
	var delivered atomic.Int32
	_ = s.Send(Message{Data: []byte("p"), Tag: "p", OnDelivered: func() { delivered.Add(1) }})
	if _, body := ts.get(hs.SID); body != "4p" {
		t.Fatalf("GET = %q", body)
	}
	if _, body := ts.get(hs.SID); body != "2" {
		t.Fatalf("GET = %q, want a ping", body)
	}
	if code, _ := ts.post(hs.SID, "3"); code != 200 {
		t.Fatalf("POST pong: %d", code)
	}
	eventually(t, "OnDelivered", func() bool { return delivered.Load() == 1 })
	if tags := s.DropPending(); len(tags) != 0 {
		t.Errorf("DropPending = %v", tags)
	}
}

// A client that closes the session itself is taken to have read what was
// written before: nothing is handed back.
func TestClientCloseConfirmsWhatWasWritten(t *testing.T) {
	ts := newTestServer(t, quietConfig())
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	var delivered atomic.Int32
	_ = s.Send(Message{Data: []byte("m"), Tag: "m", OnDelivered: func() { delivered.Add(1) }})
	readFrame(t, c)
	writeText(t, c, "1")
	ts.closed()
	if tags := s.DropPending(); len(tags) != 0 {
		t.Errorf("DropPending = %v after the client's close", tags)
	}
	if delivered.Load() != 1 {
		t.Error("OnDelivered did not run on the client's close")
	}
}

// A message the client acknowledged itself (Confirm) is delivered, even
// with no pong yet: DropPending no longer hands it back, and a later
// pong still confirms the others it covers.
func TestConfirmBeforeAnyPong(t *testing.T) {
	cfg := quietConfig()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, time.Minute
	ts := newTestServer(t, cfg)
	c := ts.dial("EIO=4&transport=websocket")
	readFrame(t, c)
	s := ts.socket()
	var delivered atomic.Int32
	_ = s.Send(Message{Data: []byte("a"), Tag: "a"})
	_ = s.Send(Message{Data: []byte("b"), Tag: "b", OnDelivered: func() { delivered.Add(1) }})
	_ = s.Send(Message{Data: []byte("c"), Tag: "c"})
	readFrame(t, c)
	readFrame(t, c)
	readFrame(t, c)
	if _, got := readFrame(t, c); got != "2" {
		t.Fatalf("got %q, want a ping", got)
	}
	s.Confirm("b")
	s.Confirm("b")    // twice: nothing more
	s.Confirm("none") // never sent: ignored
	if delivered.Load() != 1 {
		t.Fatalf("OnDelivered ran %d times, want once", delivered.Load())
	}
	_ = s.Send(Message{Data: []byte("d"), Tag: "d"})
	readFrame(t, c)
	writeText(t, c, "3") // confirms a and c, written before the ping; not d
	eventually(t, "the pong taken", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.unconfirmed) == 1
	})
	s.Abort()
	if tags := s.DropPending(); !slices.Equal(tags, []any{"d"}) {
		t.Errorf("DropPending = %v, want [d]", tags)
	}
}
