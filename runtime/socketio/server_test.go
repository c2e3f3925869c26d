package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

func TestConnectEventAndAck(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	sockets := make(chan *Socket, 1)
	events := make(chan *Event, 1)
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("echo", func(e *Event) {
			events <- e
			if e.Ack != nil {
				if err := e.Ack(e.Args...); err != nil {
					t.Error(err)
				}
				if err := e.Ack(); !errors.Is(err, ErrAckSent) {
					t.Errorf("second Ack: %v, want ErrAckSent", err)
				}
			}
		})
		sockets <- s
	})
	c := dialRaw(t, hs)
	sid := c.connect("/")
	s := recv(t, sockets)
	if s.ID() != sid || s.ID() == s.Conn().ID() || s.Namespace() != "/" || len(sid) != 20 {
		t.Fatalf("socket id %q, reply sid %q, engine sid %q, nsp %q", s.ID(), sid, s.Conn().ID(), s.Namespace())
	}

	c.send(`2["echo","no ack"]`)
	e := recv(t, events)
	if e.Name != "echo" || e.HasAck || e.Ack != nil || !reflect.DeepEqual(e.Args, []any{"no ack"}) {
		t.Fatalf("event %+v", e)
	}

	c.send(`27["echo","a",1.5,{"k":[true,null]}]`)
	e = recv(t, events)
	want := []any{"a", json.Number("1.5"), map[string]any{"k": []any{true, nil}}}
	if !e.HasAck || e.AckID != 7 || !reflect.DeepEqual(e.Args, want) || string(e.RawArgs[2]) != `{"k":[true,null]}` {
		t.Fatalf("event %+v", e)
	}
	c.expect(`37["a",1.5,{"k":[true,null]}]`)
}

func TestBinaryBothWays(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	srv.Of("/").OnConnection(func(s *Socket) {
		s.On("bin", func(e *Event) {
			// Echo the attachments back, in an ack and in an event.
			if err := e.Ack(e.Args[1], "text"); err != nil {
				t.Error(err)
			}
			if err := s.Emit("back", map[string]any{"b": e.Args[0]}, []byte{}); err != nil {
				t.Error(err)
			}
		})
	})
	c := dialRaw(t, hs)
	c.connect("/")
	c.send(`52-3["bin",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte("zero"))
	c.sendBinary([]byte("one"))
	c.expect(`61-3[{"_placeholder":true,"num":0},"text"]`)
	c.expectBinary("zero")
	c.expect(`52-["back",{"b":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`)
	c.expectBinary("one")
	c.expectBinary("")
}

func TestEmitWithAck(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	answers := make(chan []any, 2)
	srv.Of("/").OnConnection(func(s *Socket) {
		for _, q := range []string{"q1", "q2"} {
			if err := s.EmitWithAck(func(args []any) { answers <- args }, q); err != nil {
				t.Error(err)
			}
		}
	})
	c := dialRaw(t, hs)
	c.connect("/")
	c.expect(`20["q1"]`)
	c.expect(`21["q2"]`)
	c.send(`61-1["bin",{"_placeholder":true,"num":0}]`)
	c.sendBinary([]byte{1, 2})
	if got := recv(t, answers); !reflect.DeepEqual(got, []any{"bin", []byte{1, 2}}) {
		t.Fatalf("BINARY_ACK args %#v", got)
	}
	c.send(`30[]`)
	if got := recv(t, answers); len(got) != 0 {
		t.Fatalf("ACK args %#v", got)
	}
	c.send(`30["again"]`) // answered already: ignored
	c.send(`2["ping"]`)   // the session still works
	select {
	case got := <-answers:
		t.Fatalf("a repeated ack ran the callback again: %v", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestConnectErrors(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	srv.Of("/custom").Use(func(s *Socket, auth json.RawMessage) error {
		var a struct{ Token string }
		_ = json.Unmarshal(auth, &a)
		if a.Token != "ok" {
			return fmt.Errorf("checking token: %w", &ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}})
		}
		return nil
	})
	srv.Of("plain").Use(func(*Socket, json.RawMessage) error { return errors.New("go away") })
	srv.Of("/self").Use(func(s *Socket, _ json.RawMessage) error { s.Disconnect(); return nil })
	c := dialRaw(t, hs)
	c.send(`0/nope,`)
	c.expect(`4/nope,{"message":"Invalid namespace"}`)
	c.send(`0/custom,{"token":"bad"}`)
	c.expect(`4/custom,{"message":"unauthorized","data":{"code":401}}`)
	c.send(`0/custom,`)
	c.expect(`4/custom,{"message":"unauthorized","data":{"code":401}}`)
	c.send(`0/plain,`)
	c.expect(`4/plain,{"message":"go away"}`)
	c.send(`0/self,`)
	c.expect(`4/self,{"message":"disconnected during connection"}`)
	// The session survives refusals.
	c.send(`0/custom,{"token":"ok"}`)
	if reply := c.readPacket(); !strings.HasPrefix(reply, `0/custom,{"sid":"`) {
		t.Fatalf("reply %q", reply)
	}
}

func TestMultiplexAndNamespaceDisconnect(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	reasons := make(chan string, 4)
	got := make(chan string, 4)
	for _, name := range []string{"/", "/custom"} {
		srv.Of(name).OnConnection(func(s *Socket) {
			s.OnDisconnect(func(r string) { reasons <- s.Namespace() + " " + r })
			s.OnAny(func(e *Event) { got <- s.Namespace() + " " + e.Name })
		})
	}
	c := dialRaw(t, hs)
	c.connect("/")
	c.connect("/custom")
	c.send(`2/custom,["a"]`)
	c.send(`2["b"]`)
	if g1, g2 := recv(t, got), recv(t, got); g1 != "/custom a" || g2 != "/ b" {
		t.Fatalf("events %q, %q", g1, g2)
	}
	c.send(`1/custom,`)
	if r := recv(t, reasons); r != "/custom client namespace disconnect" {
		t.Fatalf("reason %q", r)
	}
	c.send(`2/custom,["dropped"]`) // not joined any more: ignored
	c.send(`2["c"]`)
	if g := recv(t, got); g != "/ c" {
		t.Fatalf("event %q", g)
	}
	c.connect("/custom") // and it can join again
}

func TestServerDisconnect(t *testing.T) {
	srv, hs := newTestServer(t, Config{ConnectTimeout: time.Second})
	sockets := make(chan *Socket, 2)
	reasons := make(chan string, 2)
	for _, name := range []string{"/", "/custom"} {
		srv.Of(name).OnConnection(func(s *Socket) {
			s.OnDisconnect(func(r string) { reasons <- s.Namespace() + " " + r })
			sockets <- s
		})
	}
	c := dialRaw(t, hs)
	c.connect("/")
	root := recv(t, sockets)
	c.connect("/custom")
	custom := recv(t, sockets)

	custom.Disconnect()
	custom.Disconnect() // idempotent
	c.expect(`1/custom,`)
	if r := recv(t, reasons); r != "/custom server namespace disconnect" {
		t.Fatalf("reason %q", r)
	}
	if err := custom.Emit("x"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Emit after Disconnect: %v", err)
	}
	if err := root.Emit("still"); err != nil {
		t.Fatal(err)
	}
	c.expect(`2["still"]`)

	// The last namespace gone, the client is given ConnectTimeout to close
	// the session itself (not done here) before the server does.
	root.Disconnect()
	if root.Conn().Closed() {
		t.Fatal("session closed right behind the DISCONNECT packet")
	}
	c.expect(`1`)
	if r := recv(t, reasons); r != "/ server namespace disconnect" {
		t.Fatalf("reason %q", r)
	}
	c.expectClosed()
	late := make(chan string, 1)
	root.OnDisconnect(func(r string) { late <- r })
	if r := recv(t, late); r != ReasonServerDisconnect {
		t.Fatalf("late OnDisconnect got %q", r)
	}
}

func TestParseErrorClosesSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		packets []string
		binary  bool
	}{
		{"bad JSON", []string{`2["a"`}, false},
		{"reserved event", []string{`2["disconnect"]`}, false},
		{"binary without packet", nil, true},
		{"text while waiting for attachment", []string{`51-["a",{"_placeholder":true,"num":0}]`, `2["b"]`}, false},
		{"placeholder out of range", []string{`51-["a",{"_placeholder":true,"num":3}]`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hs := newTestServer(t, Config{})
			reasons := make(chan string, 1)
			srv.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
			c := dialRaw(t, hs)
			c.connect("/")
			for _, p := range tc.packets {
				c.send(p)
			}
			if tc.binary {
				c.sendBinary([]byte{1})
			}
			c.expectClosed()
			if r := recv(t, reasons); r != ReasonParseError {
				t.Fatalf("reason %q", r)
			}
		})
	}
}

func TestAttachmentsBounded(t *testing.T) {
	srv, hs := newTestServer(t, Config{Engine: engineio.Config{MaxPayload: 100}})
	reasons := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dialRaw(t, hs)
	c.connect("/")
	c.send(`53-["a",{"_placeholder":true,"num":0}]`)
	c.sendBinary(make([]byte, 60))
	c.sendBinary(make([]byte, 60)) // 120 bytes of attachments > MaxPayload
	c.expectClosed()
	if r := recv(t, reasons); r != ReasonParseError {
		t.Fatalf("reason %q", r)
	}
}

func TestConnectTimeout(t *testing.T) {
	_, hs := newTestServer(t, Config{ConnectTimeout: 50 * time.Millisecond})
	c := dialRaw(t, hs)
	c.expectClosed()
}

func TestTransportCloseAndShutdownReasons(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	reasons := make(chan string, 2)
	srv.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dialRaw(t, hs)
	c.connect("/")
	_ = c.ws.Close()
	if r := recv(t, reasons); r != engineio.ReasonTransportClose && r != engineio.ReasonTransportError {
		t.Fatalf("reason %q after the client dropped the connection", r)
	}

	c = dialRaw(t, hs)
	c.connect("/")
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Shutdown waited for the handlers: the reason is there already.
	select {
	case r := <-reasons:
		if r != engineio.ReasonServerShutdown {
			t.Fatalf("reason %q", r)
		}
	default:
		t.Fatal("Shutdown returned before OnDisconnect ran")
	}
	c.expectClosed()
}

func TestPingTimeoutReason(t *testing.T) {
	srv, hs := newTestServer(t, Config{Engine: engineio.Config{PingInterval: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond}})
	reasons := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	c := dialRaw(t, hs)
	c.connect("/")
	// The raw client never answers the server's pings.
	if r := recv(t, reasons); r != engineio.ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
}

func TestEmitChecks(t *testing.T) {
	srv, hs := newTestServer(t, Config{Engine: engineio.Config{MaxQueueBytes: 64}})
	sockets := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { sockets <- s })
	c := dialRaw(t, hs)
	c.connect("/")
	s := recv(t, sockets)
	if err := s.Emit("connect"); !errors.Is(err, ErrReservedEvent) {
		t.Fatalf("reserved: %v", err)
	}
	if err := s.Emit("x", make(chan int)); err == nil {
		t.Fatal("unmarshallable argument accepted")
	}
	// A packet with attachments that does not fit is refused whole.
	if err := s.Emit("big", make([]byte, 100)); !errors.Is(err, engineio.ErrQueueFull) {
		t.Fatalf("oversized binary emit: %v", err)
	}
	if err := s.SendPacket(engineio.Message{Data: EncodeEvent("/", "pre", json.RawMessage(`{"a":1}`))}); err != nil {
		t.Fatal(err)
	}
	c.expect(`2["pre",{"a":1}]`)
}

func TestUsePIDAndAuth(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	auths := make(chan string, 1)
	nsp := srv.Of("/")
	nsp.Use(func(_ *Socket, auth json.RawMessage) error { auths <- string(auth); return nil })
	nsp.UsePID(func(s *Socket) string { return "pid-" + s.ID() })
	c := dialRaw(t, hs)
	c.send(`0{"token":"t"}`)
	reply := c.readPacket()
	var r struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[1:]), &r); err != nil || r.PID != "pid-"+r.SID {
		t.Fatalf("reply %q: %v", reply, err)
	}
	if a := recv(t, auths); a != `{"token":"t"}` {
		t.Fatalf("auth %q", a)
	}
}

func TestNewServerConfig(t *testing.T) {
	if _, err := NewServer(Config{Engine: engineio.Config{OnConnection: func(*engineio.Socket) {}}}); err == nil {
		t.Error("Engine.OnConnection accepted")
	}
	if _, err := NewServer(Config{ConnectTimeout: -1}); err == nil {
		t.Error("negative ConnectTimeout accepted")
	}
	srv, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Of("chat") != srv.Of("/chat") || srv.Of("/").Name() != "/" {
		t.Error("namespace names are not normalised")
	}
}
