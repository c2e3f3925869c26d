package socketio

import (
	"encoding/json"
	"testing"
)

// recorder is a Handler that reports what it gets.
type recorder struct {
	events chan *Event
	gone   chan string
}

func (r *recorder) HandleEvent(e *Event)           { r.events <- e }
func (r *recorder) HandleDisconnect(reason string) { r.gone <- reason }

func TestHandlerTakesWhatNoHookTakes(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	r := &recorder{events: make(chan *Event, 4), gone: make(chan string, 1)}
	hooked := make(chan *Event, 4)
	order := make(chan string, 2)
	srv.Of("/").Use(func(s *Socket, _ json.RawMessage) error {
		s.SetData("admitted")
		return nil
	})
	srv.Of("/").OnConnection(func(s *Socket) {
		if s.Data() != "admitted" {
			t.Errorf("Data() = %v, want what the middleware set", s.Data())
		}
		s.On("hooked", func(e *Event) { hooked <- e })
		s.OnDisconnect(func(string) { order <- "hook" })
		s.Handle(r)
	})
	c := dialRaw(t, hs)
	c.connect("/")

	c.send(`2["hooked",1]`)
	c.send(`2["other",2]`)
	if e := recv(t, hooked); e.Name != "hooked" {
		t.Fatalf("On handler got %q", e.Name)
	}
	if e := recv(t, r.events); e.Name != "other" {
		t.Fatalf("Handler got %q, want only the event no hook takes", e.Name)
	}

	c.send(`1`)
	if got := recv(t, order); got != "hook" {
		t.Fatalf("first to run on disconnect: %q", got)
	}
	if reason := recv(t, r.gone); reason != ReasonClientDisconnect {
		t.Fatalf("HandleDisconnect reason %q, want %q", reason, ReasonClientDisconnect)
	}
	select {
	case e := <-r.events:
		t.Fatalf("Handler got %q besides", e.Name)
	default:
	}
}

func TestHandleAfterDisconnectRunsAtOnce(t *testing.T) {
	srv, hs := newTestServer(t, Config{})
	sockets := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { sockets <- s })
	c := dialRaw(t, hs)
	c.connect("/")
	s := recv(t, sockets)
	s.Disconnect()
	r := &recorder{events: make(chan *Event, 1), gone: make(chan string, 1)}
	s.Handle(r)
	if reason := recv(t, r.gone); reason != ReasonServerDisconnect {
		t.Fatalf("reason %q, want %q", reason, ReasonServerDisconnect)
	}
}
