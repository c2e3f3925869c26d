package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/procstat"
	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// The other fault scenarios of docs/reliability.md against Centrifugo, in
// the shape of the runtime's own: half-open clients, Redis latency and a
// partitioned node, Redis out of memory, and a reconnect storm. Like the
// network drops, they print figures for the comparison and assert only
// that something was measured; they run only under make faults.

// TestHalfOpenClientsCentrifugo is TestHalfOpenClientsAreClosedByTheHeartbeat
// against Centrifugo: 100 clients through a fault proxy and one direct,
// all on a channel with presence; the proxy black-holes its traffic.
// Printed: how long until the channel's presence counted only the direct
// client, with pings as often as the runtime's test closes a silent
// client (900ms plus 300ms to answer).
func TestHalfOpenClientsCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	const clients = 100
	rs := redistest.Start(t)
	n := startCentrifugo(t, bin, rs.Addr(), func(cfg map[string]any) {
		c := cfSection(cfg, "client")
		c["ping_interval"], c["pong_timeout"] = "900ms", "300ms"
		cfSection(cfg, "channel")["without_namespace"].(map[string]any)["presence"] = true
	})
	proxy := startFaultProxy(t, n.addr)
	for i := range clients {
		ws := cfDialSubscribed(t, "ws://"+proxy.addr()+"/connection/websocket", fmt.Sprintf("cf-half-%d", i))
		go cfAnswerPings(ws, nil)
	}
	direct := cfDialSubscribed(t, "ws://"+n.addr+"/connection/websocket", "cf-direct")
	frames := make(chan string, 16)
	go cfAnswerPings(direct, frames)
	present := func() int {
		var st struct {
			NumClients int `json:"num_clients"`
		}
		if err := cfCall(n.addr, "presence_stats", map[string]any{"channel": cfChannel}, &st); err != nil {
			t.Fatalf("presence_stats: %v", err)
		}
		return st.NumClients
	}
	eventually(t, "every client in the channel's presence", func() bool { return present() == clients+1 })

	proxy.blackhole(t)
	cut := time.Now()
	eventually(t, "the half-open clients to leave the presence", func() bool { return present() == 1 })
	t.Logf("Centrifugo, half-open clients: %d left the channel's presence %s after the cut (ping_interval 900ms, pong_timeout 300ms)",
		clients, time.Since(cut).Round(time.Millisecond))
	if err := cfCall(n.addr, "publish", map[string]any{"channel": cfChannel, "data": map[string]any{"seq": 1}}, nil); err != nil {
		t.Fatal(err)
	}
	for f := range frames {
		if strings.Contains(f, `"pub"`) {
			return
		}
	}
	t.Fatal("the direct client's connection ended")
}

// TestRedisLatencyAndPartitionCentrifugo is TestRedisLatencyAndAPartitionedNode
// against Centrifugo: node B reaches Redis through a fault proxy, node A
// directly, and publications go through A every 50ms to a subscriber on
// B that recovers from its last offset. 500ms of latency each way for a
// second, then every byte to and from Redis dropped for 10s with the
// connections left open. Printed: B's /health answers during the cut,
// what B's subscriber had once the cut ended, and how long that took.
func TestRedisLatencyAndPartitionCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	rs := redistest.Start(t)
	proxy := startFaultProxy(t, rs.Addr())
	a := startCentrifugo(t, bin, rs.Addr())
	b := startCentrifugo(t, bin, proxy.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub := &cfClient{url: "ws://" + b.addr + "/connection/websocket", token: centrifugoToken(t, "cf-cut-reader"), seen: map[int]int{}}
	done := make(chan struct{})
	go func() { defer close(done); sub.run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the subscriber on B", sub.subscribed.Load)

	pub := &cfPublisher{node: a.addr}
	health := map[int]int{}
	publishFor := func(d time.Duration, sampleHealth bool) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			pub.publish(false)
			if sampleHealth {
				health[call(t, "GET", "http://"+b.addr+"/health", "", nil).Status]++
			}
		}
	}
	for _, stream := range []string{"upstream", "downstream"} {
		proxy.add(t, `{"name":"slow-`+stream+`","type":"latency","stream":"`+stream+`","attributes":{"latency":500}}`)
	}
	publishFor(time.Second, false)
	proxy.clear()
	proxy.blackhole(t)
	publishFor(10*time.Second, true)
	proxy.clear()
	healed := time.Now()
	publishFor(500*time.Millisecond, false)
	pub.publish(true)
	for ctx.Err() == nil {
		if tl := pub.tally([]*cfClient{sub}); tl.delivered == tl.due {
			break
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
	took := time.Since(healed)
	tl := pub.tally([]*cfClient{sub})
	t.Logf("Centrifugo, Redis latency and a partitioned node: %s; %d resubscriptions", tl, tl.reconnects)
	t.Logf("B's /health during the 10s cut, by status: %v; the subscriber on B had everything %s after the cut ended (or the test's time ran out)",
		health, took.Round(time.Millisecond))
	if len(pub.accepted) == 0 {
		t.Fatal("nothing was accepted: the comparison measured nothing")
	}
}

// TestRedisOutOfMemoryCentrifugo is TestRedisOutOfMemory against
// Centrifugo, which has no queues for offline users: its channel history
// is what it keeps in Redis. Redis has 3mb and noeviction; 8 KiB
// publications go to 50 channels with history until five are refused.
// Printed: accepted, refused and how, whether each channel's history holds
// what was accepted, and whether publishing works again once the
// histories are removed.
func TestRedisOutOfMemoryCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	rs := redistest.Start(t, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	n := startCentrifugo(t, bin, rs.Addr())
	pad := strings.Repeat("x", 8<<10)
	accepted := map[string][]int{}
	total, refused := 0, 0
	var firstRefusal string
	for i := 0; i < 2000 && refused < 5; i++ {
		ch := fmt.Sprintf("oom_%d", i%50)
		err := cfCall(n.addr, "publish", map[string]any{"channel": ch, "data": map[string]any{"seq": i, "pad": pad}}, nil)
		if err != nil {
			if refused == 0 {
				firstRefusal = err.Error()
			}
			refused++
			continue
		}
		accepted[ch] = append(accepted[ch], i)
		total++
	}
	missing := 0
	for ch, seqs := range accepted {
		var h struct {
			Publications []cfPublication `json:"publications"`
		}
		if err := cfCall(n.addr, "history", map[string]any{"channel": ch, "limit": 1000}, &h); err != nil {
			t.Fatalf("history of %s: %v", ch, err)
		}
		kept := map[int]bool{}
		for _, p := range h.Publications {
			kept[p.Data.Seq] = true
		}
		for _, s := range seqs {
			if !kept[s] {
				missing++
			}
		}
	}
	up := testproc.Answers200("http://" + n.addr + "/health")
	for ch := range accepted {
		if err := cfCall(n.addr, "history_remove", map[string]any{"channel": ch}, nil); err != nil {
			t.Fatalf("history_remove: %v", err)
		}
	}
	after := cfCall(n.addr, "publish", map[string]any{"channel": "oom_after", "data": map[string]any{"seq": 1}}, nil)
	t.Logf("Centrifugo, Redis out of memory: %d publications accepted, then %d refused, the first as: %s", total, refused, firstRefusal)
	t.Logf("accepted but not in their channel's history: %d; /health answered 200: %v; a publication after the histories were removed: error %v", missing, up, after)
	if total == 0 || refused == 0 {
		t.Fatal("nothing was accepted, or Redis never refused a write: the comparison measured nothing")
	}
}

// TestReconnectStormCentrifugo is TestReconnectStormRecovers against
// Centrifugo: one node (its in-memory engine, as the runtime's test runs
// without Redis) with client.connection_limit at the storm's size, filled
// from the same loopback addresses; every connection dropped at once and
// redialled at once. Centrifugo has no per-address connection rule.
// Printed: how long until all were back, the refusals and whether they
// said when to come back, and the node's RSS.
func TestReconnectStormCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	scale := stormScaleFromEnv()
	n := startCentrifugo(t, bin, "", func(cfg map[string]any) {
		c := cfSection(cfg, "client")
		c["connection_limit"] = scale.conns
		// The runtime's default heartbeat, not the short one of the other
		// scenarios.
		c["ping_interval"], c["pong_timeout"] = "25s", "8s"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*scale.bound)
	defer cancel()
	u := "ws://" + n.addr + "/connection/websocket"
	clients := make([]*stormClient, scale.conns)
	for i := range clients {
		token := centrifugoToken(t, fmt.Sprintf("cf-storm-%d", i))
		clients[i] = &stormClient{
			url:   u,
			local: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%scale.ips))},
			hello: func(ws *websocket.Conn) error { return cfConnect(ws, token) },
			keep:  func(ws *websocket.Conn) { cfAnswerPings(ws, nil) },
		}
	}
	var refusals stormRefusals
	first := connectStorm(ctx, clients, &refusals)
	if ctx.Err() != nil {
		t.Fatalf("first connect: not every client was connected within %s", 2*scale.bound)
	}
	connected := func() int {
		var info struct {
			Nodes []struct {
				NumClients int `json:"num_clients"`
			} `json:"nodes"`
		}
		if err := cfCall(n.addr, "info", map[string]any{}, &info); err != nil {
			t.Fatalf("info: %v", err)
		}
		return info.Nodes[0].NumClients
	}
	// Centrifugo refreshes the count it reports every few seconds.
	eventually(t, "every connection registered", func() bool { return connected() == scale.conns })
	firstRefusals := refusals.snapshot()
	before := procstat.RSSKiB(n.pid)
	peak := &peakRSS{pid: n.pid}
	stopSampling := peak.sample()
	for _, c := range clients {
		c.drop()
	}
	took := connectStorm(ctx, clients, &refusals)
	stopSampling()
	if ctx.Err() != nil {
		t.Fatalf("the storm: not every client was back within %s", 2*scale.bound)
	}
	storm := refusals.snapshot().minus(firstRefusals)
	eventually(t, "every connection registered again", func() bool { return connected() == scale.conns })
	after := procstat.RSSKiB(n.pid)
	t.Logf("Centrifugo, reconnect storm: %d connections from %d addresses (connection_limit %d); first connect %s with %s",
		scale.conns, scale.ips, scale.conns, first.Round(time.Millisecond), firstRefusals)
	t.Logf("all dropped at once and back in %s, with %s, %d of the refusals without Retry-After; node RSS %d KiB before, %d KiB at the peak, %d KiB after",
		took.Round(time.Millisecond), storm, storm.missingRetryAfter, before, peak.max.Load(), after)
	for _, c := range clients {
		c.drop()
	}
}

// cfConnect sends Centrifugo's connect command and reads its reply.
func cfConnect(ws *websocket.Conn, token string) error {
	if err := ws.WriteJSON(map[string]any{"id": 1, "connect": map[string]any{"token": token}}); err != nil {
		return err
	}
	_, p, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	if !strings.Contains(string(p), `"connect"`) {
		return fmt.Errorf("connect refused: %s", p)
	}
	return nil
}

// cfDialSubscribed connects to Centrifugo at url as user and subscribes to
// cfChannel, returning once the subscription is confirmed.
func cfDialSubscribed(t *testing.T, url, user string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := cfConnect(ws, centrifugoToken(t, user)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"id": 2, "subscribe": map[string]any{"channel": cfChannel}}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, p, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(p), `"subscribe"`) {
		t.Fatalf("subscribe: %s %v", p, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws
}

// cfAnswerPings reads ws until it fails, answering Centrifugo's pings,
// and passes every other frame to frames when it is not nil.
func cfAnswerPings(ws *websocket.Conn, frames chan<- string) {
	if frames != nil {
		defer close(frames)
	}
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
			if line == "{}" {
				_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
				if ws.WriteMessage(websocket.TextMessage, []byte("{}")) != nil {
					return
				}
			} else if frames != nil {
				frames <- line
			}
		}
	}
}
