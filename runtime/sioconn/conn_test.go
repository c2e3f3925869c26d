package sioconn

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// joinTwo serves "/" and "/chat" and joins both over one raw WebSocket
// that never answers a ping, so nothing written to it is ever confirmed.
// It returns one socket per namespace, in that order.
func joinTwo(t *testing.T) []*socketio.Socket {
	t.Helper()
	sockets, _, _ := join(t, "/", "/chat")
	return sockets
}

// join serves the namespaces nsps and joins them, in that order, over one
// raw WebSocket that never answers a ping. It returns their sockets, the
// WebSocket, and the text frames the client reads (the first 1,024).
func join(t *testing.T, nsps ...string) ([]*socketio.Socket, *websocket.Conn, <-chan string) {
	t.Helper()
	srv, err := socketio.NewServer(socketio.Config{Engine: engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan *socketio.Socket, len(nsps))
	for _, nsp := range nsps {
		srv.Of(nsp).OnConnection(func(s *socketio.Socket) { joined <- s })
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+socketio.DefaultPath+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	frames := make(chan string, 1024)
	go func() {
		defer close(frames)
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				return
			}
			select {
			case frames <- string(p):
			default: // past the first 1,024: dropped
			}
		}
	}()
	var sockets []*socketio.Socket
	for _, nsp := range nsps {
		packet := "0" // CONNECT, after the Engine.IO message type
		if nsp != "/" {
			packet += nsp + ","
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte("4"+packet)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-joined:
			sockets = append(sockets, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no socket joined", nsp)
		}
	}
	return sockets, ws, frames
}

// A connection closed for abuse (1008) reads nothing more, as a native
// one: the events its client sent that were still unread when it was
// closed reach no handler, and the client still gets close_reason.
func TestClosedForAbuseReadsNothingMore(t *testing.T) {
	sockets, ws, frames := join(t, "/")
	handled, release := make(chan string, 16), make(chan struct{})
	sockets[0].On("flood", func(e *socketio.Event) {
		handled <- string(e.RawArgs[0])
		<-release // the reader reads nothing more meanwhile
	})
	for n := 1; n <= 4; n++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`42["flood",`+strconv.Itoa(n)+`]`)); err != nil {
			t.Fatal(err)
		}
	}
	if got := <-handled; got != "1" {
		t.Fatalf("handled %q", got)
	}
	New(sockets[0], &Config{}).Close(protocol.ClosePolicyViolation, "rate limit abuse")
	close(release)
	var closeReason string
	for f := range frames {
		if strings.HasPrefix(f, `42["close_reason"`) {
			closeReason = f
		}
		if f == "41" { // DISCONNECT: the events were read, or not, by now
			break
		}
	}
	if want := `42["close_reason",{"code":1008,"reason":"rate limit abuse"}]`; closeReason != want {
		t.Errorf("close_reason frame %q, want %q", closeReason, want)
	}
	select {
	case got := <-handled:
		t.Errorf("an event sent before the close and read after it was handled: %s", got)
	default:
	}
}

// In a multiplexed session the namespaces share the Engine.IO queue:
// whichever Conn drops it first, each gets back only its own tags, in the
// order it sent them.
func TestMultiplexedDropPendingHandsEachConnItsOwn(t *testing.T) {
	sockets := joinTwo(t)
	cfg := &Config{Multiplexed: true}
	main, chat := New(sockets[0], cfg), New(sockets[1], cfg)
	send := func(c *Conn, codec Codec, tag string) {
		t.Helper()
		b, err := codec.EncodeEvent("notification", []byte(`{"tag":"`+tag+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendPrepared(protocol.NewPrepared(b), protocol.Outgoing{Tag: tag}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"m1", "c1", "m2", "c2", "m3"} {
		if tag[0] == 'm' {
			send(main, Codec{}, tag)
		} else {
			send(chat, Codec{Namespace: "/chat"}, tag)
		}
	}
	if got := chat.DropPending(); !slices.Equal(got, []any{"c1", "c2"}) {
		t.Fatalf("/chat got back %v, want [c1 c2]", got)
	}
	if got := main.DropPending(); !slices.Equal(got, []any{"m1", "m2", "m3"}) {
		t.Fatalf("/ got back %v, want [m1 m2 m3]", got)
	}
	if got := chat.DropPending(); len(got) != 0 {
		t.Fatalf("/chat got %v a second time", got)
	}
}

// A message prepared once for many Socket.IO connections is framed for
// WebSocket once: every Conn that sends it hands the session the same
// frame, which gorilla/websocket compresses once per compression setting
// when permessage-deflate is on.
func TestPreparedMessageIsFramedOnce(t *testing.T) {
	sockets := joinTwo(t)
	cfg := &Config{Multiplexed: true}
	b, err := Codec{}.EncodeEvent("notification", []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	p := protocol.NewPrepared(b)
	for _, s := range sockets {
		if err := New(s, cfg).SendPrepared(p, protocol.Outgoing{}); err != nil {
			t.Fatal(err)
		}
	}
	built := 0
	if _, err := p.Form(frameKey{}, func([]byte) (any, error) { built++; return nil, nil }); err != nil || built != 0 {
		t.Fatalf("the frame was not kept with the message for the next Conn (built again: %d, %v)", built, err)
	}
}
