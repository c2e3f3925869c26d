package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// TestCompression turns transport.compression on: a client that offers
// permessage-deflate gets it, and the same messages as a client that does
// not; the server reads its compressed frames; and a small compressed
// frame that inflates past limits.maxMessageBytes is refused with 1009
// instead of inflated whole.
func TestCompression(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Transport.Compression = true })
	checkCompression(t, n, n)
}

// TestCompressionAcrossNodes: the clients on one node of three, the
// publication through another.
func TestCompressionAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "transport:\n  compression: true\n")
	checkCompression(t, nodes[0], nodes[2])
}

// checkCompression publishes through pub to clients of n.
func checkCompression(t *testing.T, pub, n *node) {
	dialWith := func(user string, compress bool) (*websocket.Conn, string) {
		t.Helper()
		d := websocket.Dialer{HandshakeTimeout: wait, EnableCompression: compress}
		ws, resp, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, user)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws, resp.Header.Get("Sec-WebSocket-Extensions")
	}
	zipped, ext := dialWith("zipped", true)
	if !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("the upgrade answered extensions %q, want permessage-deflate", ext)
	}
	plain, ext := dialWith("plain", false)
	if ext != "" {
		t.Fatalf("a client that did not offer compression got %q", ext)
	}
	read := func(ws *websocket.Conn) []byte {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(wait))
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	read(zipped) // connected
	read(plain)
	for _, ws := range []*websocket.Conn{zipped, plain} {
		// The compressing client's frames are compressed too.
		if err := ws.WriteJSON(map[string]any{"event": "subscribe", "id": 1, "data": map[string]any{"channels": []string{"news:1"}}}); err != nil {
			t.Fatal(err)
		}
		if p := read(ws); !bytes.Contains(p, []byte(`"ok":true`)) {
			t.Fatalf("subscribe: %s", p)
		}
	}
	payload := map[string]any{"text": strings.Repeat("all work and no play ", 200)}
	mustStatus(t, call(t, "POST", pub.base+"/ws/publish", serviceToken(t), map[string]any{"channel": "news:1", "type": "story", "payload": payload}), 200)
	a, b := read(zipped), read(plain)
	if !bytes.Equal(a, b) {
		t.Fatalf("the compressed client got other bytes:\n%s\n%s", a, b)
	}
	var m appMessage
	if json.Unmarshal(a, &struct{ Data *appMessage }{&m}) != nil || m.Type != "story" {
		t.Fatalf("message %s", a)
	}

	// 1 MiB of spaces compresses to about a kilobyte on the wire.
	bomb := []byte(`{"event":"ping","data":"` + strings.Repeat(" ", 1<<20) + `"}`)
	if err := zipped.WriteMessage(websocket.TextMessage, bomb); err != nil {
		t.Fatal(err)
	}
	if ce := readToClose(t, zipped); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after a message that inflates to 1 MiB: %v, want a 1009 close", ce)
	}
}
