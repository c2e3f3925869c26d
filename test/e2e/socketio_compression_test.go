package e2e

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// TestSocketIOCompression turns transport.compression on for Socket.IO:
// socket.io-client offering permessage-deflate over WebSocket gets it, a
// client that does not offer it gets none, and both receive the same
// publications, one from the HTTP API and one the compressing client
// published itself, compressed. A compressed frame that inflates past
// socketIO.maxHttpBufferSize is refused with 1009, not inflated whole.
func TestSocketIOCompression(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Transport.Compression = true
		c.Channels.Namespaces = map[string]channel.Rule{"chat": {Publish: channel.PublishSubscribers}}
	})
	checkSocketIOCompression(t, n, n)

	ws, _, err := (&websocket.Dialer{HandshakeTimeout: wait, EnableCompression: true}).Dial(
		strings.Replace(n.base, "http://", "ws://", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // the open packet
		t.Fatal(err)
	}
	// 2 MiB of spaces compresses to about two kilobytes on the wire.
	bomb := []byte(`42["ping","` + strings.Repeat(" ", 2<<20) + `"]`)
	if err := ws.WriteMessage(websocket.TextMessage, bomb); err != nil {
		t.Fatal(err)
	}
	if ce := readToClose(t, ws); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after a Socket.IO frame that inflates to 2 MiB: %v, want a 1009 close", ce)
	}
}

// TestSocketIOCompressionAcrossNodes: the clients on one node of three,
// the HTTP publication through another.
func TestSocketIOCompressionAcrossNodes(t *testing.T) {
	_, nodes := startFleet(t, 3, "transport:\n  compression: true\nchannels:\n  namespaces:\n    chat: {publish: subscribers}\n")
	checkSocketIOCompression(t, nodes[2], nodes[0])
}

// checkSocketIOCompression runs rt_compress.js on n, its HTTP publication
// going through pub.
func checkSocketIOCompression(t *testing.T, pub, n *node) {
	env := n.sioEnv(t, "sio-zip")
	env = append(env, "SIO_API="+pub.base) // the later value wins
	out := nodeclient.MustRun(t, nodeWait, "rt_compress.js", env...)
	exts := map[string]any{}
	got := map[string]map[string]any{} // step/name -> data
	for _, l := range out.Lines {
		name, _ := l["name"].(string)
		switch l["step"] {
		case "open":
			exts[name] = l["extensions"]
		case "headline", "say":
			got[fmt.Sprint(l["step"], "/", name)], _ = l["data"].(map[string]any)
		}
	}
	t.Logf("extensions negotiated: %v", exts)
	if exts["zipped"] != "permessage-deflate" || exts["plain"] != "" {
		t.Fatalf("extensions %v: want permessage-deflate for the client that offered it only\n%s", exts, out.Stdout)
	}
	text := strings.Repeat("all work and no play makes a dull message ", 100)
	for _, ev := range []string{"headline", "say"} {
		z, p := got[ev+"/zipped"], got[ev+"/plain"]
		if z == nil || !reflect.DeepEqual(z, p) {
			t.Fatalf("%s: the two clients got different messages:\n%v\n%v", ev, z, p)
		}
		if payload, _ := z["payload"].(map[string]any); payload["text"] != text {
			t.Errorf("%s: payload %v", ev, z["payload"])
		}
	}
}
