package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/procstat"
)

// stormScale is the size of the reconnect storm. make test runs the short
// form; make faults (FLEETWIRE_FAULTS=full) the full one, at the scale of
// the memory benchmark and with the default per-IP rule.
type stormScale struct {
	conns, ips int
	perIP      string // rateLimit.connectionsPerIP
	bound      time.Duration
}

func stormScaleFromEnv() stormScale {
	if os.Getenv("FLEETWIRE_FAULTS") == "full" {
		return stormScale{conns: 19500, ips: 65, perIP: "{limit: 300, window: 1m}", bound: 5 * time.Minute}
	}
	return stormScale{conns: 1500, ips: 6, perIP: "{limit: 200, window: 2s}", bound: time.Minute}
}

// TestReconnectStormRecovers connects a node to its connection cap from
// several loopback source addresses, then drops every connection at once
// and has every client dial again at once. The node stays up and every
// client is back; each one refused on the way (429 for its IP's
// connection rule, 503 at the cap) was told when to come back with
// Retry-After and came back then. Printed: how long until all were back,
// the refusals, and the node's RSS before, at its peak and after. It runs
// with the per-IP rule, and without it, as Centrifugo has none
// (TestReconnectStormCentrifugo).
func TestReconnectStormRecovers(t *testing.T) {
	scale := stormScaleFromEnv()
	t.Run("per-IP rule", func(t *testing.T) { reconnectStorm(t, scale) })
	scale.perIP = "{limit: 0}"
	t.Run("no per-IP rule", func(t *testing.T) { reconnectStorm(t, scale) })
}

func reconnectStorm(t *testing.T, scale stormScale) {
	cfg := writeConfig(t, "rateLimit:\n  connectionsPerIP: "+scale.perIP+"\n  connectionsPerUser: 0\n")
	// Warnings only: a debug line per connection would fill the test's
	// memory with logs.
	p := startProcessEnv(t, []string{"MAX_CONNECTIONS=" + strconv.Itoa(scale.conns), "LOG_LEVEL=warn"}, "--config", cfg)
	n := p.node
	u := strings.Replace(n.base, "http://", "ws://", 1) + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 2*scale.bound)
	defer cancel()

	clients := make([]*stormClient, scale.conns)
	for i := range clients {
		clients[i] = &stormClient{
			url:    u,
			header: http.Header{"Authorization": {"Bearer " + userToken(t, fmt.Sprintf("storm-%d", i))}},
			local:  &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%scale.ips))},
		}
	}
	var refusals stormRefusals
	connectAll := func(what string) time.Duration {
		took := connectStorm(ctx, clients, &refusals)
		if ctx.Err() != nil {
			t.Fatalf("%s: not every client was connected within %s", what, 2*scale.bound)
		}
		return took
	}
	first := connectAll("first connect")
	before := procstat.RSSKiB(p.cmd.Process.Pid)
	eventually(t, "every connection registered", func() bool { return activeConnections(t, n) == float64(scale.conns) })
	firstRefusals := refusals.snapshot()

	peak := &peakRSS{pid: p.cmd.Process.Pid}
	stopSampling := peak.sample()
	for _, c := range clients {
		c.drop()
	}
	took := connectAll("the storm")
	stopSampling()
	storm := refusals.snapshot().minus(firstRefusals)
	eventually(t, "every connection registered again", func() bool { return activeConnections(t, n) == float64(scale.conns) })
	after := procstat.RSSKiB(p.cmd.Process.Pid)
	// Full again, the node is alive but not ready: at its cap it asks the
	// load balancer for no more connections.
	if r := call(t, "GET", n.base+"/health/live", "", nil); r.Status != http.StatusOK {
		t.Fatalf("node not alive after the storm: %d %s", r.Status, r.Raw)
	}
	if r := call(t, "GET", n.base+"/health/ready", "", nil); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Raw, "at_max_connections") {
		t.Fatalf("node at its cap answers ready: %d %s", r.Status, r.Raw)
	}
	t.Logf("reconnect storm: %d connections from %d addresses (connectionsPerIP %s); first connect %s with %s",
		scale.conns, scale.ips, scale.perIP, first.Round(time.Millisecond), firstRefusals)
	t.Logf("all dropped at once and back in %s, with %s; node RSS %d KiB before, %d KiB at the peak, %d KiB after",
		took.Round(time.Millisecond), storm, before, peak.max.Load(), after)
	if storm.missingRetryAfter > 0 {
		t.Fatalf("%d refusals without Retry-After", storm.missingRetryAfter)
	}
	for _, c := range clients {
		c.drop()
	}
}

// connectStorm connects every client at once, at most 256 dials in
// flight, and returns how long it took; ctx ends it early.
func connectStorm(ctx context.Context, clients []*stormClient, refusals *stormRefusals) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.connect(ctx, sem, refusals)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// stormClient is one client of the storm: it dials from its own source
// address and, when refused, waits as long as Retry-After says, or a
// second without it.
type stormClient struct {
	url   string
	local *net.TCPAddr
	// header goes with the upgrade request.
	header http.Header
	// hello completes the session once upgraded; nil reads the runtime's
	// "connected". keep then reads the connection until it ends,
	// answering pings; nil is discard.
	hello func(ws *websocket.Conn) error
	keep  func(ws *websocket.Conn)
	ws    *websocket.Conn
}

func (c *stormClient) connect(ctx context.Context, sem chan struct{}, refusals *stormRefusals) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext:   (&net.Dialer{LocalAddr: c.local}).DialContext,
	}
	for ctx.Err() == nil {
		sem <- struct{}{}
		ws, resp, err := d.DialContext(ctx, c.url, c.header)
		<-sem
		if err == nil {
			_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := c.greet(ws); err == nil {
				_ = ws.SetReadDeadline(time.Time{})
				c.ws = ws
				if c.keep != nil {
					go c.keep(ws)
				} else {
					go discard(ws)
				}
				return
			}
			_ = ws.Close()
			refusals.failed.Add(1)
			continue
		}
		wait := time.Second
		if resp != nil {
			refusals.note(resp)
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		} else {
			refusals.failed.Add(1)
		}
		sleepCtx(ctx, wait)
	}
}

// greet completes the session: the runtime's is live once "connected"
// arrives.
func (c *stormClient) greet(ws *websocket.Conn) error {
	if c.hello != nil {
		return c.hello(ws)
	}
	_, _, err := ws.ReadMessage()
	return err
}

// discard reads until the connection ends, answering pings.
func discard(ws *websocket.Conn) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// drop closes the client's TCP connection without a close handshake.
func (c *stormClient) drop() {
	if c.ws != nil {
		_ = c.ws.NetConn().Close()
		c.ws = nil
	}
}

// stormRefusals counts refused dials by status, and those without
// Retry-After.
type stormRefusals struct {
	tooMany, unavailable, other, failed, missingRetryAfter atomic.Int64
}

type refusalCounts struct{ tooMany, unavailable, other, failed, missingRetryAfter int64 }

func (r *stormRefusals) note(resp *http.Response) {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		r.tooMany.Add(1)
	case http.StatusServiceUnavailable:
		r.unavailable.Add(1)
	default:
		r.other.Add(1)
		return
	}
	if resp.Header.Get("Retry-After") == "" {
		r.missingRetryAfter.Add(1)
	}
}

func (r *stormRefusals) snapshot() refusalCounts {
	return refusalCounts{r.tooMany.Load(), r.unavailable.Load(), r.other.Load(), r.failed.Load(), r.missingRetryAfter.Load()}
}

func (a refusalCounts) minus(b refusalCounts) refusalCounts {
	return refusalCounts{a.tooMany - b.tooMany, a.unavailable - b.unavailable, a.other - b.other, a.failed - b.failed, a.missingRetryAfter - b.missingRetryAfter}
}

func (a refusalCounts) String() string {
	return fmt.Sprintf("%d refused 429, %d refused 503, %d other statuses, %d failed dials", a.tooMany, a.unavailable, a.other, a.failed)
}

// peakRSS samples a process's RSS every 50ms and keeps the largest.
type peakRSS struct {
	pid int
	max atomic.Int64
}

func (p *peakRSS) sample() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := procstat.RSSKiB(p.pid); v > p.max.Load() {
				p.max.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// activeConnections reads realtime_active_connections from the node.
func activeConnections(t *testing.T, n *node) float64 {
	return value(t, scrape(t, n), "realtime_active_connections", nil)
}
