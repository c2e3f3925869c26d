package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
)

func TestOriginCheck(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.CORS.Origins = []string{"https://app.example.com", "https://*.example.org"}
	})
	hdr := func(origin string) http.Header {
		return http.Header{"Authorization": {"Bearer " + userToken(t, "alice")}, "Origin": {origin}}
	}
	for _, ok := range []string{"https://app.example.com", "https://a.example.org", "https://x.y.example.org"} {
		ws, _, err := dialRaw(t, n, "", hdr(ok))
		if err != nil {
			t.Fatalf("origin %s refused: %v", ok, err)
		}
		ws.Close()
	}
	for _, bad := range []string{"https://evil.com", "http://app.example.com", "https://example.org", "https://app.example.com.evil.com"} {
		expectRefused(t, n, "", hdr(bad), 403, "origin_not_allowed")
	}
	// Non-browser clients send no Origin.
	dial(t, n, userToken(t, "alice"))
}

func TestMaxConnections(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxConnections = 2 })
	dial(t, n, userToken(t, "a"))
	dial(t, n, userToken(t, "b"))
	expectRefused(t, n, "", http.Header{"Authorization": {"Bearer " + userToken(t, "c")}}, 503, "too_many_connections")
}

func TestOversizeFrameClosesWith1009(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxMessageBytes = 1024 })
	c := dial(t, n, userToken(t, "alice"))
	big := `{"event":"ping","data":"` + strings.Repeat("x", 2048) + `"}`
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.expectClose(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

func TestHeartbeatTimeoutClosesDeadPeer(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Heartbeat.Interval = config.Duration{Duration: 200 * time.Millisecond}
		c.Heartbeat.Timeout = config.Duration{Duration: time.Second}
	})
	c := dial(t, n, userToken(t, "alice"))
	if c.conn.HeartbeatIntervalMs != 200 {
		t.Fatalf("heartbeatIntervalMs %d", c.conn.HeartbeatIntervalMs)
	}
	// Answer no pings: gorilla answers them only while the client reads.
	eventually(t, "the dead peer to be dropped", func() bool { return n.srv.Hub().Connections() == 0 })
	c.ws.SetPingHandler(func(string) error { return nil })
	if code, _ := c.expectClose(); code != 4009 {
		t.Fatalf("close code %d, want 4009", code)
	}

	// A reading client answers pings and stays.
	live := dial(t, n, userToken(t, "bob"))
	go func() {
		for {
			if _, _, err := live.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(3 * time.Second)
	if n.srv.Hub().Connections() != 1 {
		t.Fatalf("live client was dropped")
	}
}
