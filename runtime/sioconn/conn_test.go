package sioconn

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// joinTwo serves "/" and "/chat" and joins both over one raw WebSocket
// that reads what it is sent but never answers a ping, so nothing written
// to it is ever confirmed. It returns one socket per namespace, in that
// order.
func joinTwo(t *testing.T) []*socketio.Socket {
	t.Helper()
	srv, err := socketio.NewServer(socketio.Config{Engine: engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan *socketio.Socket, 2)
	for _, nsp := range []string{"/", "/chat"} {
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
	go func() { // read and drop everything
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	var sockets []*socketio.Socket
	for _, packet := range []string{"0", "0/chat,"} { // CONNECT, after the Engine.IO message type
		if err := ws.WriteMessage(websocket.TextMessage, []byte("4"+packet)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-joined:
			sockets = append(sockets, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no socket joined", packet)
		}
	}
	return sockets
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
