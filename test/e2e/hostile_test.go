package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
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

// TestOversizedHeadersAreRefused sends headers past limits.maxHeaderBytes
// (16 KiB by default): the answer is 431. 8 KiB of headers, a large
// token's worth, are served.
func TestOversizedHeadersAreRefused(t *testing.T) {
	n := startNode(t, nil)
	for _, tc := range []struct {
		size, want int
	}{{24 << 10, http.StatusRequestHeaderFieldsTooLarge}, {100 << 10, http.StatusRequestHeaderFieldsTooLarge}, {8 << 10, http.StatusOK}} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(wait))
		req := "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", tc.size) + "\r\n\r\n"
		_, _ = conn.Write([]byte(req))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d bytes of headers: %v", tc.size, err)
		}
		_ = conn.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%d bytes of headers: status %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

// With limits.connectionsPerSecondPerIP, the connections one address
// opens past the rate are refused as they are accepted, even the ones
// whose headers would be refused anyway: a 429 with Retry-After and the
// rate_limited error, counted as ip_rate; the node goes on serving.
func TestConnectionsPerAddressAreBounded(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.ConnectionsPerSecondPerIP = 2 })
	var codes []int
	for range 4 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(wait))
		_, _ = conn.Write([]byte("GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 24<<10) + "\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			var e struct{ Error struct{ Code string } }
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("the refusal: %v %+v, Retry-After %q", err, e, resp.Header.Get("Retry-After"))
			}
		}
		_ = conn.Close()
	}
	// The third is refused, and its answer held for its Retry-After of a
	// second, by which time the bucket has refilled: the fourth, sent as
	// the refusal said, goes through.
	if want := []int{431, 431, 429, 431}; !slices.Equal(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	time.Sleep(time.Second) // the scrape is a connection from the same address
	if got := value(t, scrape(t, n), "realtime_connection_attempts_rejected_total", map[string]string{"reason": "ip_rate"}); got != 1 {
		t.Errorf("ip_rate refusals counted: %v, want 1", got)
	}
}

// TestEventFloodsAreCutOff floods one node, with its default limits, from
// three clients at once: unknown events, pings, and subscribes naming
// thousands of channels. Each flooder is told rate_limited with a retry
// time, then closed with 1008 once it keeps going; the subscribe flood
// never holds more channels than a connection may. A bystander on the
// same node keeps getting its pings answered; its round-trip p99 before
// and during the floods is printed (not asserted: this machine is shared).
func TestEventFloodsAreCutOff(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Log.Level = "info"
		// The bystander measures with 400 pings: its tier lets it.
		c.RateLimit.Tiers = map[string]config.Tier{"monitor": {Messages: &config.Rule{}}}
	})
	bystander := dial(t, n, token(t, auth.TokenRequest{UserID: "bystander", Tier: "monitor", TTL: time.Hour}))
	before := pingP99(t, bystander, 200)

	floods := map[string]func(i int) map[string]any{
		"unknown events": func(i int) map[string]any { return map[string]any{"event": "no_such_event", "id": i} },
		"pings":          func(i int) map[string]any { return map[string]any{"event": "ping", "id": i} },
		"subscribes": func(i int) map[string]any {
			names := make([]string, 100)
			for j := range names {
				names[j] = fmt.Sprintf("flood:%d-%d", i, j)
			}
			return map[string]any{"event": "subscribe", "id": i, "data": map[string]any{"channels": names}}
		},
	}
	type outcome struct {
		name             string
		sent, limited    int
		code             int
		reason, retryErr string
	}
	results := make(chan outcome, len(floods))
	for name, build := range floods {
		c := dial(t, n, userToken(t, "flooder-"+strings.ReplaceAll(name, " ", "-")))
		go func() {
			o := outcome{name: name}
			stop := make(chan struct{})
			go func() { // the writer: at most 2,000 frames, until the close
				defer close(stop)
				for i := 1; i <= 2000; i++ {
					_ = c.ws.SetWriteDeadline(time.Now().Add(wait))
					if c.ws.WriteJSON(build(i)) != nil {
						return
					}
					o.sent = i
				}
			}()
			for {
				_ = c.ws.SetReadDeadline(time.Now().Add(wait))
				_, p, err := c.ws.ReadMessage()
				if ce, ok := err.(*websocket.CloseError); ok {
					o.code, o.reason = ce.Code, ce.Text
					break
				}
				if err != nil {
					o.reason = err.Error()
					break
				}
				var f frame
				if json.Unmarshal(p, &f) == nil && f.Event == "error" {
					var e errorData
					_ = json.Unmarshal(f.Data, &e)
					if e.Code == "rate_limited" {
						o.limited++
						if e.RetryAfterMs <= 0 {
							o.retryErr = string(f.Data)
						}
					}
				}
			}
			<-stop
			results <- o
		}()
	}
	during := pingP99(t, bystander, 200)
	for range floods {
		o := <-results
		t.Logf("%s: %d frames sent, %d answered rate_limited, closed %d %q", o.name, o.sent, o.limited, o.code, o.reason)
		if o.code != websocket.ClosePolicyViolation || o.reason != "rate limit abuse" {
			t.Errorf("%s: closed %d %q, want 1008 rate limit abuse", o.name, o.code, o.reason)
		}
		if o.limited == 0 || o.retryErr != "" {
			t.Errorf("%s: %d rate_limited answers; one without retryAfterMs: %s", o.name, o.limited, o.retryErr)
		}
	}
	if ch := value(t, scrape(t, n), "realtime_channels", nil); ch > 100 {
		t.Errorf("%v channels held after the subscribe flood; a connection may hold 100", ch)
	}
	t.Logf("bystander ping round trip p99: %s before the floods, %s during them", before, during)
	bystander.emit("ping", nil)
	bystander.expect("pong")
}

// pingP99 sends n acked pings one after another and returns the 99th
// percentile of their round trips.
func pingP99(t *testing.T, c *client, n int) time.Duration {
	t.Helper()
	rtts := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if f := c.request("ping", nil); f.Event != "ack" {
			t.Fatalf("ping answered %s %s", f.Event, f.Data)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts[len(rtts)*99/100]
}

// TestSocketIOAttachmentAbuseIsCutOff attacks the runtime's Socket.IO
// endpoint with binary packets: one announcing more attachments than a
// packet may have (1,000), one whose attachments add up to more than
// socketIO.maxHttpBufferSize, and one that sends a text packet while its
// attachments are still missing. Each session is closed at once, without
// buffering what was announced; the node and a bystander carry on.
func TestSocketIOAttachmentAbuseIsCutOff(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.SocketIO.MaxHTTPBufferSize = 100_000 })
	bystander := dial(t, n, userToken(t, "sio-bystander"))
	chunk := make([]byte, 60_000) // under the buffer size; two are over it
	// A well-formed binary packet is taken: the runtime answers that it
	// does not know the event, which is how the attacks below would show
	// that they got through.
	control := dialRawSIO(t, n, userToken(t, "sio-control"))
	control.write(`451-["upload",{"_placeholder":true,"num":0}]`)
	if err := control.ws.WriteMessage(websocket.BinaryMessage, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	for p := control.read(); !strings.Contains(p, "unknown_event"); p = control.read() {
	}
	_ = control.ws.Close()
	attacks := map[string]func(c *rawSIO){
		"1,001 attachments announced": func(c *rawSIO) {
			c.write(`451001-["upload",{"_placeholder":true,"num":0}]`)
		},
		"attachments over maxHttpBufferSize": func(c *rawSIO) {
			c.write(`453-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`)
			for range 3 {
				if c.ws.WriteMessage(websocket.BinaryMessage, chunk) != nil {
					return // closed already
				}
			}
		},
		"a text packet before the attachments": func(c *rawSIO) {
			c.write(`452-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
			_ = c.ws.WriteMessage(websocket.BinaryMessage, []byte("one"))
			c.write(`42["ping"]`)
		},
	}
	for name, attack := range attacks {
		c := dialRawSIO(t, n, userToken(t, "sio-attacker"))
		attack(c)
		start := time.Now()
		for {
			_ = c.ws.SetReadDeadline(time.Now().Add(wait))
			_, p, err := c.ws.ReadMessage()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s: the session was not closed within %s", name, wait)
			}
			if err != nil {
				t.Logf("%s: closed after %s (%v)", name, time.Since(start).Round(time.Millisecond), err)
				break
			}
			// The packet is an event the runtime does not know: had it been
			// taken, unknown_event would come back.
			if strings.Contains(string(p), "unknown_event") {
				t.Fatalf("%s: the server took the packet: %s", name, p)
			}
		}
	}
	eventually(t, "the attackers' sessions to end", func() bool { return n.srv.Hub().Connections() == 1 })
	bystander.emit("ping", nil)
	bystander.expect("pong")
}

// TestCompressionIsNotNegotiated offers permessage-deflate on the upgrade
// and gets no extension back, then sends a frame marked compressed (RSV1)
// anyway: the runtime closes the connection with 1002 instead of
// inflating it, so no deflate bomb can be inflated.
func TestCompressionIsNotNegotiated(t *testing.T) {
	n := startNode(t, nil)
	d := websocket.Dialer{HandshakeTimeout: wait, EnableCompression: true}
	ws, resp, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, "deflater")}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("the upgrade negotiated %q", ext)
	}
	if _, p, err := ws.ReadMessage(); err != nil || !strings.Contains(string(p), `"connected"`) {
		t.Fatalf("first frame %s %v", p, err)
	}
	// A masked text frame with RSV1 set, as a compressing client sends.
	payload := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	mask := []byte{1, 2, 3, 4}
	frame := append([]byte{0xC1, 0x80 | byte(len(payload))}, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := ws.NetConn().Write(frame); err != nil {
		t.Fatal(err)
	}
	if ce := readToClose(t, ws); ce.Code != websocket.CloseProtocolError {
		t.Fatalf("after a compressed frame: %v, want a 1002 close", ce)
	}
}

// TestAnAbusiveAddressIsBanned: with limits.connectionsPerSecondPerIP on,
// the address of a connection closed for abuse (1008) may open no other
// for rateLimit.abuse.ban, and is told when to come back; other addresses
// are not touched, and the ban ends.
func TestAnAbusiveAddressIsBanned(t *testing.T) {
	const ban = 2 * time.Second
	n := startNode(t, func(c *config.Config) {
		c.Limits.ConnectionsPerSecondPerIP = 100
		c.RateLimit.Max = 5
		c.RateLimit.Abuse = config.Abuse{Blocked: 3, Window: config.Duration{Duration: time.Minute}, Ban: config.Duration{Duration: ban}}
	})
	from := func(ip string) (*websocket.Conn, *http.Response, error) {
		d := dialerFrom(ip)
		return d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, "flooder-"+ip)}})
	}
	ws, _, err := from("127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	floodToAbuse(t, ws)
	banned := time.Now()
	_, resp, err := from("127.0.0.9")
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a new connection from the banned address: %v %v, want 429", resp, err)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" && ra != "2" {
		t.Errorf("Retry-After %q, want the ban's remaining 1 or 2 seconds", ra)
	}
	other, _, err := from("127.0.0.10")
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	_ = other.Close()
	time.Sleep(time.Until(banned.Add(ban)))
	back, _, err := from("127.0.0.9")
	if err != nil {
		t.Fatalf("after the ban: %v", err)
	}
	_ = back.Close()
}

// TestBadRequestsOfAnAddressAreBounded: past
// limits.badRequestsPerSecondPerIP (here 1 a second), an address that
// made bad requests has its next connections refused as they are accepted:
// a 429 with Retry-After and the rate_limited error, counted as
// bad_requests. Each way of misbehaving counts, over the native protocol
// and Socket.IO alike; another address is not held back.
func TestBadRequestsOfAnAddressAreBounded(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.BadRequestsPerSecondPerIP = 1
		c.RateLimit.Max = 5
		c.RateLimit.Abuse = config.Abuse{Blocked: 3, Window: config.Duration{Duration: time.Minute}}
	})
	native := func(ip string) (*websocket.Conn, *http.Response, error) {
		d := dialerFrom(ip)
		return d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, "misbehaving-"+ip)}})
	}
	misbehave := map[string]func(ip string){
		"a message over limits.maxMessageBytes": func(ip string) {
			ws, _, err := native(ip)
			if err != nil {
				t.Fatal(err)
			}
			_ = ws.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 100<<10)))
			if ce := readToClose(t, ws); ce.Code != websocket.CloseMessageTooBig {
				t.Fatalf("closed with %v, want 1009", ce)
			}
		},
		"a flood closed for abuse": func(ip string) {
			ws, _, err := native(ip)
			if err != nil {
				t.Fatal(err)
			}
			floodToAbuse(t, ws)
		},
		"a Socket.IO packet announcing 1,001 attachments": func(ip string) {
			d := dialerFrom(ip)
			ws, _, err := d.Dial(strings.Replace(n.base, "http://", "ws://", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			_, _, _ = ws.ReadMessage() // the open packet
			auth, _ := json.Marshal(map[string]string{"token": userToken(t, "misbehaving-"+ip)})
			_ = ws.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...))
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`451001-["upload",{"_placeholder":true,"num":0}]`))
			for {
				_ = ws.SetReadDeadline(time.Now().Add(wait))
				if _, _, err := ws.ReadMessage(); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the session was not closed")
					}
					return
				}
			}
		},
	}
	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	i := 0
	for what, do := range misbehave {
		ip := ips[i]
		i++
		do(ip)
		// The next connections are refused as they are accepted, before
		// their upgrade is read: not by the upgrade's own per-address rule
		// (rateLimit.connectionsPerIP), whose answer says otherwise. The
		// bad request is counted as the node ends its connection, which
		// the client may hear of a moment before: a dial may come first.
		var refusal string
		for try := 0; refusal == "" && try < 10; try++ {
			ws, resp, err := native(ip)
			if err == nil {
				_ = ws.Close()
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%s: the next connection: %v %v, want 429", what, resp, err)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: the refusal: %v %+v, Retry-After %q", what, err, e, resp.Header.Get("Retry-After"))
			}
			refusal = e.Error.Message
		}
		if !strings.Contains(refusal, "too many bad requests from this address") {
			t.Fatalf("%s: the next connections from %s: refused with %q, want the bad-request refusal", what, ip, refusal)
		}
		if got := value(t, scrape(t, n), "realtime_connection_attempts_rejected_total", map[string]string{"reason": "bad_requests"}); got != float64(i) {
			t.Errorf("%s: bad_requests refusals counted: %v, want %d", what, got, i)
		}
	}
	other, _, err := native("127.0.0.24")
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	_ = other.Close()
}

// dialerFrom dials WebSockets from the loopback address ip.
func dialerFrom(ip string) websocket.Dialer {
	return websocket.Dialer{HandshakeTimeout: wait, NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
}

// floodToAbuse sends pings on ws until the node closes it, and fails the
// test unless it was closed for abuse (1008).
func floodToAbuse(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	for i := range 20 {
		if ws.WriteJSON(map[string]any{"event": "ping", "id": i + 1}) != nil {
			break
		}
	}
	if ce := readToClose(t, ws); ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("the flood ended with %v, want 1008", ce)
	}
}
