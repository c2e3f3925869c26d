package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
	"github.com/fleetwire/fleetwire/test/redistest"
)

// collector reads a client's messages of the given types until its
// connection ends.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	done chan struct{}
}

func collect(t *testing.T, c *client, types ...string) *collector {
	col := &collector{seen: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for {
			// A long deadline: a cut may keep the connection quiet for a
			// while, and a timed-out read ends the connection.
			_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
			_, p, err := c.ws.ReadMessage()
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(p, &f) != nil {
				continue
			}
			if !slices.Contains(types, f.Event) {
				continue
			}
			var m appMessage
			if json.Unmarshal(f.Data, &m) == nil {
				col.mu.Lock()
				col.seen[m.ID]++
				col.mu.Unlock()
			}
		}
	}()
	return col
}

// await waits up to d for every id to be seen, and returns the ids still
// missing and those seen more than once.
func (col *collector) await(ids []string, d time.Duration) (lost, dup []string) {
	deadline := time.Now().Add(d)
	for {
		lost, dup = col.missing(ids)
		if len(lost) == 0 || time.Now().After(deadline) {
			return lost, dup
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missing returns the ids not seen, and the ids seen more than once.
func (col *collector) missing(ids []string) (lost, dup []string) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, id := range ids {
		switch n := col.seen[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			dup = append(dup, id)
		}
	}
	return lost, dup
}

// TestChannelPublishesThroughARedisRestartAreNotLost kills the fleet's
// redis-server while channel publishes and broadcasts go through node A's
// API, and starts it again, empty, half a second later. Every publish and
// broadcast the API answered 2xx reaches the subscribers on both nodes,
// once, and every message sent to the user on node B reaches it; the
// others were refused with 503 and Retry-After.
func TestChannelPublishesThroughARedisRestartAreNotLost(t *testing.T) {
	srv, nodes := startFleet(t, 2, "")
	a, b := nodes[0], nodes[1]
	var cols []*collector
	for i, n := range []*node{a, b} {
		c := dial(t, n, userToken(t, []string{"sa", "sb"}[i]))
		if r := c.subscribe("doc:restart"); !r[0].OK {
			t.Fatalf("subscribe: %+v", r)
		}
		cols = append(cols, collect(t, c, "doc_update", "announcement", "notice"))
	}

	// want lists, per subscriber, the ids it must get.
	want := make([][]string, 2)
	refused := 0
	calls := 0
	publish := func() {
		calls++
		path, body, to := "/ws/publish", map[string]any{"channel": "doc:restart", "type": "doc_update"}, []int{0, 1}
		switch calls % 4 {
		case 2:
			path, body = "/ws/broadcast", map[string]any{"type": "announcement"}
		case 3:
			path, body, to = "/ws/send/sb", map[string]any{"type": "notice"}, []int{1}
		}
		r, err := tryCall(a.base+path, serviceToken(t), body)
		switch {
		case err != nil:
			t.Fatalf("publish: %v", err)
		case r.Status == 200:
			for _, i := range to {
				want[i] = append(want[i], r.Body["messageId"].(string))
			}
		case r.Status == 503 && r.Header.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("publish answered %d: %s", r.Status, r.Raw)
		}
	}
	for range 5 {
		publish()
	}
	// Redis dies right away, with what was just accepted possibly on its
	// way; node A publishes again what the empty Redis lost
	// (TestPublicationsAnEmptyRedisLostAreRepublished).
	srv.Stop()
	down, resumed := time.Now(), false
	for i := 0; time.Since(down) < 2*time.Second && i < 200; i++ {
		if !resumed && time.Since(down) > 500*time.Millisecond {
			srv.Resume(t)
			resumed = true
			// Right away, before the nodes have subscribed again.
			for range 6 {
				publish()
			}
		}
		publish()
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("calls: %d, %d refused with 503", calls, refused)

	for i, col := range cols {
		accepted := want[i]
		lost, dup := col.await(accepted, 10*time.Second)
		t.Logf("subscriber on node %d: %d accepted for it, %d delivered, %d lost, %d twice",
			i+1, len(accepted), len(accepted)-len(lost), len(lost), len(dup))
		if len(lost) > 0 || len(dup) > 0 {
			t.Errorf("subscriber on node %d: %d of %d accepted publishes lost %v, %d delivered twice %v",
				i+1, len(lost), len(accepted), lost, len(dup), dup)
		}
	}
}

// TestSubscribersOfAKilledNodeRecoverElsewhere kills a node with a channel
// subscriber on it. The subscriber reconnects to another node and
// resubscribes with the last id it saw: it gets what was published while
// it was away, though the channel's namespace configures no history,
// because every channel keeps one by default.
func TestSubscribersOfAKilledNodeRecoverElsewhere(t *testing.T) {
	srv := redistest.Start(t)
	env := []string{"REDIS_URL=" + srv.URL()}
	a := startProcessEnv(t, env, "--drain-pre-delay", "0s", "--drain-timeout", "0s").node
	b := startProcessEnv(t, env, "--drain-pre-delay", "0s", "--drain-timeout", "0s")

	c := dial(t, b.node, userToken(t, "reader"))
	if r := c.subscribe("doc:kill"); !r[0].OK {
		t.Fatalf("subscribe: %+v", r)
	}
	seen := publishN(t, a, "doc:kill", 3)
	for _, id := range seen {
		if m := c.expectMessage("headline"); m.ID != id {
			t.Fatalf("live: %s, want %s", m.ID, id)
		}
	}
	_ = b.cmd.Process.Kill()
	<-b.exit
	missed := publishN(t, a, "doc:kill", 3)

	c2 := dial(t, a, userToken(t, "reader"))
	got, recovered := subscribeSince(t, c2, "doc:kill", seen[len(seen)-1], len(missed))
	t.Logf("published while the subscriber was away: %d; recovered on the other node: %d (recovered=%v)", len(missed), len(got), recovered)
	if !recovered || !slices.Equal(got, missed) {
		t.Fatalf("after the kill: %v recovered=%v, want %v", got, recovered, missed)
	}
}

// TestHalfOpenClientsAreClosedByTheHeartbeat black-holes the traffic of
// 100 clients that connected through a fault proxy, without closing their
// sockets. The heartbeat closes them within heartbeat.timeout plus one
// interval; presence and realtime_active_connections drop with them; the
// messages queued for them (acks=1 keeps them until acknowledged) stay
// queued. A client connected directly is untouched.
func TestHalfOpenClientsAreClosedByTheHeartbeat(t *testing.T) {
	const clients = 100
	interval, timeout := 300*time.Millisecond, 900*time.Millisecond
	rs := redistest.Start(t)
	n := startNode(t, func(c *config.Config) {
		c.RedisURL = rs.URL()
		c.Heartbeat = config.Heartbeat{Interval: config.Duration{Duration: interval}, Timeout: config.Duration{Duration: timeout}}
		c.RateLimit.ConnectionsPerIP = config.Rule{} // every client dials from 127.0.0.1
	})
	proxy := startFaultProxy(t, strings.TrimPrefix(n.base, "http://"))
	d := websocket.Dialer{HandshakeTimeout: wait}
	for i := range clients {
		user := fmt.Sprintf("half-%d", i)
		ws, _, err := d.Dial("ws://"+proxy.addr()+"/ws?acks=1", http.Header{"Authorization": {"Bearer " + userToken(t, user)}})
		if err != nil {
			t.Fatalf("dial %s through the proxy: %v", user, err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		if _, p, err := ws.ReadMessage(); err != nil || !strings.Contains(string(p), `"connected"`) {
			t.Fatalf("%s: %s %v", user, p, err)
		}
		go keepReading(ws, nil) // answers the heartbeat's pings, until the cut
	}
	direct, _, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + userToken(t, "direct")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Close() })
	frames := make(chan string, 16)
	go keepReading(direct, frames)
	eventually(t, "every connection to be registered", func() bool { return n.srv.Hub().Connections() == clients+1 })

	proxy.blackhole(t)
	cut := time.Now()
	sent := call(t, "POST", n.base+"/ws/send/half-0", serviceToken(t), map[string]any{"type": "notice"})
	mustStatus(t, sent, 200)
	eventually(t, "the half-open connections to be closed", func() bool { return n.srv.Hub().Connections() == 1 })
	took := time.Since(cut)
	t.Logf("%d half-open connections closed %s after the cut (heartbeat timeout %s, interval %s)", clients, took.Round(time.Millisecond), timeout, interval)
	if bound := timeout + interval + time.Second; took > bound {
		t.Errorf("closed after %s, want within %s (timeout + interval, plus a second for a loaded machine)", took, bound)
	}

	if v := value(t, scrape(t, n), "realtime_active_connections", nil); v != 1 {
		t.Errorf("realtime_active_connections = %v, want 1", v)
	}
	st := call(t, "GET", n.base+"/ws/status/half-0", serviceToken(t), nil)
	if st.Body["online"] != false {
		t.Errorf("status of a closed half-open user: %s", st.Raw)
	}
	q := call(t, "GET", n.base+"/ws/queue/half-0", serviceToken(t), nil)
	msgs, _ := q.Body["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["id"] != sent.Body["messageId"] {
		t.Errorf("queue of half-0: %s, want the message sent after the cut", q.Raw)
	}
	if err := direct.WriteJSON(map[string]any{"event": "ping"}); err != nil {
		t.Fatalf("the direct client: %v", err)
	}
	for f := range frames {
		if strings.Contains(f, `"pong"`) {
			return
		}
	}
	t.Fatal("the direct client's connection ended")
}

// keepReading reads ws until it fails, which answers the server's pings,
// and passes each frame to frames when it is not nil.
func keepReading(ws *websocket.Conn, frames chan<- string) {
	if frames != nil {
		defer close(frames)
	}
	for {
		_ = ws.SetReadDeadline(time.Now().Add(wait))
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if frames != nil {
			frames <- string(p)
		}
	}
}

// TestRedisLatencyAndAPartitionedNode puts a fault proxy between node B and
// Redis; node A reaches Redis directly. Publications go through A to a
// subscriber on B. With 500ms of latency they arrive late. Then B is cut
// from Redis (the proxy drops every byte, and keeps B's connections
// open): its subscription looks alive and hears nothing. B reports not
// ready after its broker grace and replaces the silent subscription after
// two unanswered pings, while the cut lasts. Once the cut ends it delivers
// from history what was published meanwhile: nothing accepted is lost,
// nothing comes twice, and B is ready again.
//
// Calls to B's own API during the cut are each either refused with 503,
// Retry-After and an error code, or accepted and then delivered after the
// cut: publications to the subscribers on both nodes, messages to the
// user on B. And presence comes back by itself: the subscriber on B,
// whose entry expired in Redis during the cut, is online again through A
// once B's refresh reaches Redis.
func TestRedisLatencyAndAPartitionedNode(t *testing.T) {
	rs := redistest.Start(t)
	proxy := startFaultProxy(t, rs.Addr())
	// A presence entry lives 3s, refreshed every second: the cut outlives
	// it.
	shortPresence := func(c *config.Config) { c.Presence.TTL = config.Duration{Duration: 3 * time.Second} }
	a := startNode(t, func(c *config.Config) { c.RedisURL = rs.URL(); shortPresence(c) })
	b := startNode(t, func(c *config.Config) {
		c.RedisURL = "redis://" + proxy.addr()
		c.Health.BrokerGrace = config.Duration{Duration: 500 * time.Millisecond}
		// Above the 1s round trip the latency toxics make.
		c.Health.SubscriptionCheck = config.Duration{Duration: 1500 * time.Millisecond}
		shortPresence(c)
	})
	sub := dial(t, b, userToken(t, "cut-reader"))
	if r := sub.subscribe("doc:cut"); !r[0].OK {
		t.Fatalf("subscribe: %+v", r)
	}
	col := collect(t, sub, "headline", "notice")
	onA := dial(t, a, userToken(t, "cut-watcher"))
	if r := onA.subscribe("doc:cut"); !r[0].OK {
		t.Fatalf("subscribe: %+v", r)
	}
	colA := collect(t, onA, "headline")
	online := func(user string) bool {
		r := call(t, "GET", a.base+"/ws/status/"+user, serviceToken(t), nil)
		return r.Status == 200 && r.Body["online"] == true
	}
	if !online("cut-reader") {
		t.Fatal("the subscriber on B is not online before the cut")
	}
	var accepted []string
	publishFor := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			accepted = append(accepted, publishN(t, a, "doc:cut", 1)...)
		}
	}
	ready := func() int { return call(t, "GET", b.base+"/health/ready", "", nil).Status }

	for _, stream := range []string{"upstream", "downstream"} {
		proxy.add(t, `{"name":"slow-`+stream+`","type":"latency","stream":"`+stream+`","attributes":{"latency":500}}`)
	}
	publishFor(time.Second)
	for _, stream := range []string{"upstream", "downstream"} {
		if err := proxy.p.Toxics.RemoveToxic(context.Background(), "slow-"+stream); err != nil {
			t.Fatal(err)
		}
	}

	// The cut: nothing comes back from Redis to B, and B's connections
	// stay open, as behind a firewall that drops packets.
	reconnects := value(t, scrape(t, b), "realtime_broker_reconnects_total", nil)
	proxy.blackhole(t)
	cutAt := time.Now()
	// Calls to B's API meanwhile, one after another, until the cut ends.
	type callToB struct {
		kind string
		res  apiResult
	}
	var toB []callToB
	cutEnded := make(chan struct{})
	callsDone := make(chan struct{})
	go func() {
		defer close(callsDone)
		kinds := []struct{ kind, path string }{{"publish", "/ws/publish"}, {"send", "/ws/send/cut-reader"}}
		for i := 0; i < 40; i++ {
			select {
			case <-cutEnded:
				return
			default:
			}
			k := kinds[i%2]
			body := map[string]any{"channel": "doc:cut", "type": "headline", "payload": "through B"}
			if k.kind == "send" {
				body = map[string]any{"type": "notice", "payload": "through B"}
			}
			r, err := tryCall(b.base+k.path, serviceToken(t), body)
			if err != nil {
				t.Errorf("%s through B: %v", k.kind, err)
				return
			}
			toB = append(toB, callToB{k.kind, r})
		}
	}()
	publishFor(time.Second)
	// Readiness counts from the first failed probe, as a kubelet's would.
	eventually(t, "B, cut from Redis, to report not ready", func() bool { return ready() == 503 })
	eventually(t, "B to replace its silent subscription", func() bool {
		return value(t, scrape(t, b), "realtime_broker_reconnects_total", nil) > reconnects
	})
	// The cut lasts at least 10s, as Centrifugo's row's does.
	publishFor(max(time.Second, 10*time.Second-time.Since(cutAt)))
	cut := time.Since(cutAt)
	for _, stream := range []string{"upstream", "downstream"} {
		if err := proxy.p.Toxics.RemoveToxic(context.Background(), "blackhole-"+stream); err != nil {
			t.Fatal(err)
		}
	}
	healed := time.Now()
	close(cutEnded)
	<-callsDone
	eventually(t, "B to be ready again", func() bool { return ready() == 200 })
	publishFor(500 * time.Millisecond)

	// What B accepted during the cut, and what it refused.
	var publishedOnB, sentOnB []string
	refused := 0
	for _, c := range toB {
		switch {
		case c.res.Status == 200:
			if c.kind == "publish" {
				publishedOnB = append(publishedOnB, c.res.Body["messageId"].(string))
			} else {
				sentOnB = append(sentOnB, c.res.Body["messageId"].(string))
			}
		case c.res.Status == 503 && c.res.Header.Get("Retry-After") != "" && c.res.errorCode() != "":
			refused++
		default:
			t.Errorf("%s through B during the cut: %d %s, want 200, or 503 with Retry-After and a code", c.kind, c.res.Status, c.res.Raw)
		}
	}
	t.Logf("calls to B during the cut: %d, %d refused with 503, %d publications and %d sends accepted", len(toB), refused, len(publishedOnB), len(sentOnB))
	if len(toB) == 0 {
		t.Error("no call to B finished during the cut")
	}

	lost, dup := col.await(append(append(slices.Clone(accepted), publishedOnB...), sentOnB...), 15*time.Second)
	t.Logf("%d publications through A; B cut off for %s; the subscriber on B had them all %s after the cut ended",
		len(accepted), cut.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
	if len(lost) > 0 || len(dup) > 0 {
		t.Fatalf("subscriber on B: %d of %d lost %v, %d twice %v", len(lost), len(accepted)+len(publishedOnB)+len(sentOnB), lost, len(dup), dup)
	}
	if lost, dup := colA.await(append(slices.Clone(accepted), publishedOnB...), 15*time.Second); len(lost) > 0 || len(dup) > 0 {
		t.Fatalf("subscriber on A: %d lost %v, %d twice %v", len(lost), lost, len(dup), dup)
	}
	eventually(t, "the subscriber on B online again through A", func() bool { return online("cut-reader") })
	t.Logf("presence: the subscriber on B online again through A %s after the cut ended", time.Since(healed).Round(time.Millisecond))
	if v := value(t, scrape(t, b), "realtime_channel_gap_filled_total", nil); v < 1 {
		t.Errorf("B filled %v publications from history, want the ones published during the cut", v)
	}
}

// TestRedisOutOfMemory runs the fleet's Redis with a small maxmemory and
// noeviction, and fills it with messages for offline users. Once Redis
// refuses writes, sends are answered 503 store_unavailable with
// Retry-After; every send answered 2xx is in its user's queue; the node
// stays up. Once memory is freed (a queue cleared through the admin API),
// sends are accepted again.
func TestRedisOutOfMemory(t *testing.T) {
	rs := redistest.Start(t, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	n := startNode(t, func(c *config.Config) { c.RedisURL = rs.URL() })
	payload := strings.Repeat("x", 8<<10)
	accepted := map[string][]string{} // user -> message ids answered 2xx
	refused := 0
	send := func(user string) int {
		r, err := tryCall(n.base+"/ws/send/"+user, serviceToken(t), map[string]any{"type": "notice", "payload": payload})
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		switch {
		case r.Status == 200:
			accepted[user] = append(accepted[user], r.Body["messageId"].(string))
		case r.Status == 503 && r.errorCode() == "store_unavailable" && r.Header.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("send answered %d: %s", r.Status, r.Raw)
		}
		return r.Status
	}
	users := 0
	for i := 0; i < 2000 && refused < 5; i++ {
		user := fmt.Sprintf("oom-%d", i%50)
		users = max(users, i%50+1)
		send(user)
	}
	if refused == 0 {
		t.Fatal("Redis never refused a write")
	}
	total := 0
	for _, ids := range accepted {
		total += len(ids)
	}
	t.Logf("%d sends accepted, %d refused with 503 once Redis was full", total, refused)
	if r := call(t, "GET", n.base+"/health", "", nil); r.Status != 200 {
		t.Fatalf("the node is down: %d %s", r.Status, r.Raw)
	}
	for user, ids := range accepted {
		q := call(t, "GET", n.base+"/ws/queue/"+user+"?limit=1000", serviceToken(t), nil)
		msgs, _ := q.Body["messages"].([]any)
		var got []string
		for _, m := range msgs {
			got = append(got, m.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("queue of %s: %d messages, want the %d accepted, in order", user, len(got), len(ids))
		}
	}
	for user := range accepted {
		mustStatus(t, call(t, "DELETE", n.base+"/admin/queues/user/"+user, adminToken(t), nil), 200)
	}
	if got := send("oom-after"); got != 200 {
		t.Fatalf("send after memory was freed: %d", got)
	}
}

// TestPublicationsAnEmptyRedisLostAreRepublished cuts node B off from
// Redis, publishes through node A and sends to a user on B through A
// (accepted: recorded in the history or the user's queue and handed to
// Redis, which cannot reach B), then kills Redis and starts it again
// empty, and lets B back. The messages were in no store any more; A,
// which accepted them moments before the break, records (or queues) and
// publishes them again, and B's client gets each one.
func TestPublicationsAnEmptyRedisLostAreRepublished(t *testing.T) {
	rs := redistest.Start(t)
	proxy := startFaultProxy(t, rs.Addr())
	a := startNode(t, func(c *config.Config) { c.RedisURL = rs.URL() })
	b := startNode(t, func(c *config.Config) { c.RedisURL = "redis://" + proxy.addr() })
	sub := dial(t, b, userToken(t, "far-reader"))
	if r := sub.subscribe("doc:lost"); !r[0].OK {
		t.Fatalf("subscribe: %+v", r)
	}
	col := collect(t, sub, "headline", "notice")
	before := publishN(t, a, "doc:lost", 1)
	if lost, _ := col.await(before, wait); len(lost) > 0 {
		t.Fatalf("before the cut: %v not delivered", lost)
	}
	proxy.blackhole(t)
	cut := publishN(t, a, "doc:lost", 3)
	var sent []string
	for range 2 {
		r := call(t, "POST", a.base+"/ws/send/far-reader", serviceToken(t), map[string]any{"type": "notice"})
		mustStatus(t, r, 200)
		sent = append(sent, r.Body["messageId"].(string))
	}
	rs.Restart(t) // empty: no persistence
	proxy.clear()
	all := append(append(before, cut...), sent...)
	lost, dup := col.await(all, 20*time.Second)
	t.Logf("%d publications and %d messages to the user accepted by A while B was cut off, then Redis restarted empty; B's client got %d of them, %d twice; A republished %v",
		len(cut), len(sent), len(cut)+len(sent)-len(lost), len(dup), value(t, scrape(t, a), "realtime_republished_total", nil))
	// A republishes what it accepted in the moments before the break and
	// the store lost, including what B may already have had: that can
	// come twice, as the protocol allows (deduplicate by id).
	if len(lost) > 0 {
		kinds := map[string]string{}
		for _, id := range cut {
			kinds[id] = "publication"
		}
		for _, id := range sent {
			kinds[id] = "message to the user"
		}
		for _, id := range lost {
			t.Errorf("client on B: lost %s (%s)", id, kinds[id])
		}
		t.Fatalf("B filled %v from the store, A republished %v, B's broker reconnected %v times",
			value(t, scrape(t, b), "realtime_channel_gap_filled_total", nil), value(t, scrape(t, a), "realtime_republished_total", nil),
			value(t, scrape(t, b), "realtime_broker_reconnects_total", nil))
	}
}
