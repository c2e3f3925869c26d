package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// TestSlowHeadersAreCutOff sends an upgrade's headers a line every 100ms
// (slowloris). The node cuts the connection once limits.httpHeaderTimeout
// has passed, and serves other clients meanwhile.
func TestSlowHeadersAreCutOff(t *testing.T) {
	const timeout = 500 * time.Millisecond
	n := startNode(t, func(c *config.Config) { c.Limits.HTTPHeaderTimeout = config.Duration{Duration: timeout} })
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()
	_, _ = conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: localhost\r\n"))
	other := dial(t, n, userToken(t, "patient"))
	other.emit("ping", nil)
	other.expect("pong")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case took := <-closed:
			t.Logf("slow headers cut off after %s (limits.httpHeaderTimeout %s)", took.Round(time.Millisecond), timeout)
			if took < timeout {
				t.Fatalf("cut off after %s, before the %s timeout", took, timeout)
			}
			return
		case <-tick.C:
			if i > 100 {
				t.Fatal("the slow client was never cut off")
			}
			_, _ = conn.Write([]byte("X-Slow: 1\r\n"))
		}
	}
}

// TestOversizedHeadersAreRefused sends 100 KiB of headers, past the
// server's 64 KiB: the answer is 431.
func TestOversizedHeadersAreRefused(t *testing.T) {
	n := startNode(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	req := "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"
	_, _ = conn.Write([]byte(req))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}
