package socketio

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitTimeout bounds every wait in these tests; nothing here takes more
// than milliseconds unless it is broken.
const waitTimeout = 5 * time.Second

// newTestServer starts a Server on a loopback httptest server.
func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return srv, hs
}

// rawClient speaks Engine.IO and Socket.IO by hand over a WebSocket, to
// check the server's packets byte for byte.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, hs *httptest.Server) *rawClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + DefaultPath + "?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &rawClient{t: t, ws: ws}
	if open, _ := c.readFrame(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("first frame %q, want the open packet", open)
	}
	return c
}

// send writes a Socket.IO text packet (the client adds the Engine.IO '4').
func (c *rawClient) send(packet string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte("4"+packet)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// readFrame returns the next frame; binary reports a binary frame.
func (c *rawClient) readFrame() (string, bool) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	mt, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(b), mt == websocket.BinaryMessage
}

// expect reads the next Socket.IO text packet and checks it.
func (c *rawClient) expect(want string) {
	c.t.Helper()
	if got := c.readPacket(); got != want {
		c.t.Fatalf("got packet %q, want %q", got, want)
	}
}

// readPacket returns the next Socket.IO text packet, without the '4'.
func (c *rawClient) readPacket() string {
	c.t.Helper()
	f, bin := c.readFrame()
	if bin || !strings.HasPrefix(f, "4") {
		c.t.Fatalf("got frame %q (binary %v), want a text message", f, bin)
	}
	return f[1:]
}

func (c *rawClient) expectBinary(want string) {
	c.t.Helper()
	if f, bin := c.readFrame(); !bin || f != want {
		c.t.Fatalf("got frame %q (binary %v), want binary %q", f, bin, want)
	}
}

// expectClosed reads until the server closes, checking that the last
// Engine.IO packet was the close packet "1" when one came.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				c.t.Fatal("session still open")
			}
			return
		}
		if string(b) == "1" {
			return
		}
	}
}

// connect joins nsp and returns the socket id of the reply.
func (c *rawClient) connect(nsp string) string {
	c.t.Helper()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	c.send("0" + prefix)
	reply := c.readPacket()
	if !strings.HasPrefix(reply, "0"+prefix+`{"sid":"`) {
		c.t.Fatalf("CONNECT reply %q", reply)
	}
	return strings.TrimSuffix(strings.TrimPrefix(reply, "0"+prefix+`{"sid":"`), `"}`)
}

// recv waits for a value sent by a handler.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a handler")
		panic("unreachable")
	}
}
