package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/sio/nodeclient"
)

// dropsScale is the size of the network-drops scenario. make test runs the
// short form; make faults sets FLEETWIRE_FAULTS=full for the full one.
type dropsScale struct {
	native, sio int           // clients of each protocol
	cutting     time.Duration // how long the network is cut at random
	userEvery   time.Duration // each user is sent a message this often
}

func dropsScaleFromEnv() dropsScale {
	if os.Getenv("FLEETWIRE_FAULTS") == "full" {
		return dropsScale{native: 500, sio: 500, cutting: 60 * time.Second, userEvery: 2 * time.Second}
	}
	return dropsScale{native: 40, sio: 20, cutting: 6 * time.Second, userEvery: time.Second}
}

const (
	dropsChannel = "drops:all"
	// dropsPublishEvery paces the channel: 10 publications a second.
	dropsPublishEvery = 100 * time.Millisecond
	// dropsConfig: every client dials from 127.0.0.1, so the per-IP and
	// per-user rules are off; heartbeats are short so that a black-holed
	// connection is noticed within seconds, on both protocols. Channels
	// keep 1,000 publications, as the Centrifugo side's does: the default
	// 100 hold 10 seconds at 10 a second, and a client the cutter hits
	// again and again can be away longer (a full run lost 125 of one
	// client's deliveries so, told recovered: false).
	dropsConfig = `
limits: {badRequestsPerSecondPerIP: 0}
channels: {defaultHistory: {size: 1000, ttl: 5m}}
heartbeat: {interval: 500ms, timeout: 1500ms}
socketIO: {pingInterval: 500ms, pingTimeout: 1000ms}
rateLimit:
  max: 0
  connectionsPerIP: {limit: 0}
  connectionsPerUser: 0
`
)

// TestNetworkDropsLoseNothing cuts the network between clients and a fleet
// of two runtimes on Redis at random while channel publications and user
// messages flow: connections are reset, or black-holed one way or both
// until a heartbeat notices. Native clients reconnect with acks=1 and
// resubscribe with since; socket.io-client reconnects with its connection
// state recovery. Every message the API accepted reaches every client it
// was meant for; duplicates are counted, and are allowed, since clients
// deduplicate by id.
func TestNetworkDropsLoseNothing(t *testing.T) {
	scale := dropsScaleFromEnv()
	_, nodes := startFleet(t, 2, dropsConfig)
	a, b := nodes[0], nodes[1]
	proxies := []*faultProxy{
		startFaultProxy(t, strings.TrimPrefix(a.base, "http://")),
		startFaultProxy(t, strings.TrimPrefix(b.base, "http://")),
	}

	ctx, cancel := context.WithTimeout(context.Background(), scale.cutting+3*time.Minute)
	defer cancel()
	var natives []*dropClient
	var users []string
	for i := range scale.native {
		c := &dropClient{user: fmt.Sprintf("drop-n%d", i), seen: map[string]int{}}
		c.url = "ws://" + proxies[i%2].addr() + "/ws?acks=1"
		c.token = userToken(t, c.user)
		natives = append(natives, c)
		users = append(users, c.user)
	}
	var sioClients []map[string]string
	for i := range scale.sio {
		user := fmt.Sprintf("drop-s%d", i)
		sioClients = append(sioClients, map[string]string{"user": user, "token": userToken(t, user), "url": "ws://" + proxies[i%2].addr()})
		users = append(users, user)
	}
	var wg sync.WaitGroup
	for _, c := range natives {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	signals := startSignals(t)
	sioDone := make(chan nodeclient.Output, 1)
	clientsJSON, _ := json.Marshal(sioClients)
	clientsFile := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(clientsFile, clientsJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		out, err := nodeclient.Run(t, scale.cutting+2*time.Minute, "drops.js", "SIO_CLIENTS_FILE="+clientsFile,
			"SIO_CHANNEL="+dropsChannel, "SIO_SIGNAL_URL="+signals.url, fmt.Sprintf("SIO_TIMEOUT_MS=%d", (scale.cutting+2*time.Minute).Milliseconds()))
		if err != nil {
			t.Errorf("drops.js: %v\n%s", err, out.Stderr)
		}
		sioDone <- out
	}()
	if scale.sio > 0 {
		signals.await(t, "subscribed")
	}
	eventually(t, "every native client on the channel", func() bool {
		for _, c := range natives {
			if !c.subscribed.Load() {
				return false
			}
		}
		return true
	})

	// Traffic through both nodes' APIs, directly, while the cutter works
	// on the clients' side.
	traffic := &dropsTraffic{accepted: map[string][]string{}, refused: map[int]int{}}
	trafficCtx, stopTraffic := context.WithTimeout(ctx, scale.cutting)
	defer stopTraffic()
	var tw sync.WaitGroup
	tw.Add(3)
	go func() { defer tw.Done(); traffic.publishLoop(t, trafficCtx, a) }()
	go func() { defer tw.Done(); traffic.sendLoop(t, trafficCtx, b, users, scale.userEvery) }()
	cuts := make(chan dropsCuts, 1)
	go func() { defer tw.Done(); cuts <- cutAtRandom(trafficCtx, proxies) }()
	tw.Wait()
	for _, p := range proxies {
		p.clear()
	}

	// The end markers: a client is done once it has both, and every
	// message accepted before them was accepted earlier in its stream.
	traffic.publish(t, a, "drop_end")
	for _, u := range users {
		traffic.send(t, b, u, "drop_end")
	}
	// Bounded by ctx: a client that never gets its end markers shows up
	// as lost deliveries below.
	for ctx.Err() == nil && !allEnded(natives) {
		sleepCtx(ctx, 50*time.Millisecond)
	}
	sioOut := <-sioDone

	tally := traffic.tally(natives, sioOut)
	cut := <-cuts
	t.Logf("network drops: %d native and %d Socket.IO clients for %s; %d rounds of resets and %d of black-holes; native reconnects %d, Socket.IO reconnects %d (%d recovered)",
		scale.native, scale.sio, scale.cutting, cut.resets, cut.blackholes, tally.nativeReconnects, tally.sioReconnects, tally.sioRecovered)
	t.Logf("sent %d, accepted %d (channel %d, users %d), refused %v; deliveries due %d, delivered %d, duplicates before deduplication %d, lost %d",
		traffic.sent.Load(), tally.accepted, len(traffic.channel), tally.accepted-len(traffic.channel), traffic.refused,
		tally.due, tally.delivered, tally.duplicates, tally.lost)
	if tally.lost > 0 {
		for _, c := range natives {
			if slices.ContainsFunc(tally.firstLost, func(l string) bool { return strings.HasPrefix(l, c.user+"/") }) {
				t.Logf("%s read on the channel: %s", c.user, strings.Join(c.trail, "\n  "))
			}
		}
		t.Fatalf("%d accepted deliveries lost; first: %v", tally.lost, tally.firstLost)
	}
	if tally.accepted == 0 || tally.due == 0 {
		t.Fatal("nothing was accepted: the scenario tested nothing")
	}
	if cut.resets+cut.blackholes == 0 || tally.nativeReconnects == 0 {
		t.Fatal("no connection was cut: the scenario tested nothing")
	}
}

func allEnded(clients []*dropClient) bool {
	for _, c := range clients {
		if !c.ended.Load() {
			return false
		}
	}
	return true
}

// dropClient is a native client that reconnects after every cut, with
// acks=1 and with since for its channel, and counts each message id it
// reads.
type dropClient struct {
	user, token, url string

	subscribed atomic.Bool // the first subscribe succeeded
	ended      atomic.Bool // both end markers read

	mu       sync.Mutex
	seen     map[string]int
	lastChan string // the last channel message id read
	connects int
	// trail lists what the client read on the channel, and each
	// subscribe's answer, in order, to explain a loss.
	trail   []string
	endChan bool
	endUser bool
}

// run keeps the client connected until it has read both end markers or
// ctx ends.
func (c *dropClient) run(ctx context.Context) {
	redialLoop(ctx, c.url, http.Header{"Authorization": {"Bearer " + c.token}}, c.ended.Load, func() {
		c.mu.Lock()
		c.connects++
		c.mu.Unlock()
	}, c.session)
}

// redialLoop keeps a client connected until done reports true or ctx
// ends: it dials (again after a short random pause when that fails),
// calls connected, and runs session until the connection fails.
func redialLoop(ctx context.Context, url string, header http.Header, done func() bool, connected func(), session func(*websocket.Conn)) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for ctx.Err() == nil && !done() {
		ws, _, err := d.DialContext(ctx, url, header)
		if err != nil {
			sleepCtx(ctx, 50*time.Millisecond+rand.N(200*time.Millisecond))
			continue
		}
		connected()
		stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
		session(ws)
		stop()
		_ = ws.Close()
	}
}

// session subscribes and reads until the connection fails or the client
// is done. A read deadline of three heartbeat timeouts notices a
// black-holed connection that the server's close never reached.
func (c *dropClient) session(ws *websocket.Conn) {
	sub := map[string]any{"channels": []string{dropsChannel}}
	// A client that has read nothing on the channel since it first
	// subscribed asks for the whole history with an empty id.
	if c.subscribed.Load() {
		c.mu.Lock()
		sub["since"] = map[string]string{dropsChannel: c.lastChan}
		c.mu.Unlock()
	}
	if c.write(ws, map[string]any{"event": "subscribe", "id": 1, "data": sub}) != nil {
		return
	}
	for !c.ended.Load() {
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		if json.Unmarshal(p, &f) != nil {
			continue
		}
		if f.Event == "ack" {
			var r struct {
				Results []channelResult `json:"results"`
			}
			if json.Unmarshal(f.Data, &r) == nil && len(r.Results) == 1 && r.Results[0].OK {
				c.subscribed.Store(true)
			}
			c.mu.Lock()
			c.trail = append(c.trail, fmt.Sprintf("subscribed(connect %d): %s", c.connects, f.Data))
			c.mu.Unlock()
			continue
		}
		var m appMessage
		if f.Event != "drop_msg" && f.Event != "drop_end" || json.Unmarshal(f.Data, &m) != nil {
			continue
		}
		if m.Channel == "" && c.write(ws, map[string]any{"event": "ack_messages", "data": map[string]any{"ids": []string{m.ID}}}) != nil {
			return
		}
		c.read(m, f.Event == "drop_end")
	}
}

func (c *dropClient) read(m appMessage, end bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[m.ID]++
	if m.Channel != "" {
		c.lastChan = m.ID
		c.trail = append(c.trail, m.ID)
		c.endChan = c.endChan || end
	} else {
		c.endUser = c.endUser || end
	}
	if c.endChan && c.endUser {
		c.ended.Store(true)
	}
}

func (c *dropClient) write(ws *websocket.Conn, v any) error {
	_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
	return ws.WriteJSON(v)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// dropsTraffic publishes and sends through the API and records what it
// accepted.
type dropsTraffic struct {
	sent     atomic.Int64
	mu       sync.Mutex
	channel  []string            // accepted channel publication ids
	accepted map[string][]string // accepted message ids per user
	refused  map[int]int         // answers other than 2xx, by status (0: no answer)
}

func (tr *dropsTraffic) publishLoop(t *testing.T, ctx context.Context, n *node) {
	tick := time.NewTicker(dropsPublishEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			tr.publish(t, n, "drop_msg")
		}
	}
}

// sendLoop sends each user a message every `every`, spread over the
// period, from four senders.
func (tr *dropsTraffic) sendLoop(t *testing.T, ctx context.Context, n *node, users []string, every time.Duration) {
	const senders = 4
	gap := every / time.Duration(max(1, len(users)/senders))
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; ctx.Err() == nil; i += senders {
				tr.send(t, n, users[i%len(users)], "drop_msg")
				sleepCtx(ctx, gap)
			}
		}()
	}
	wg.Wait()
}

func (tr *dropsTraffic) publish(t *testing.T, n *node, typ string) {
	r, err := tryCall(n.base+"/ws/publish", serviceToken(t),
		map[string]any{"channel": dropsChannel, "type": typ, "payload": map[string]any{}})
	tr.record(r, err, func(id string) { tr.channel = append(tr.channel, id) })
}

func (tr *dropsTraffic) send(t *testing.T, n *node, user, typ string) {
	r, err := tryCall(n.base+"/ws/send/"+user, serviceToken(t), map[string]any{"type": typ, "payload": map[string]any{}})
	tr.record(r, err, func(id string) { tr.accepted[user] = append(tr.accepted[user], id) })
}

func (tr *dropsTraffic) record(r apiResult, err error, accept func(id string)) {
	tr.sent.Add(1)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	id, _ := r.Body["messageId"].(string)
	switch {
	case err != nil:
		tr.refused[0]++
	case r.Status/100 == 2 && id != "":
		accept(id)
	default:
		tr.refused[r.Status]++
	}
}

// dropsTally is the scenario's count of deliveries.
type dropsTally struct {
	accepted, due, delivered, duplicates, lost int
	firstLost                                  []string
	nativeReconnects, sioReconnects            int
	sioRecovered                               int
}

// tally checks every accepted message against what each client it was
// meant for read: every client gets every channel publication, and each
// user what was sent to it.
func (tr *dropsTraffic) tally(natives []*dropClient, sio nodeclient.Output) dropsTally {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var t dropsTally
	t.accepted = len(tr.channel)
	for _, ids := range tr.accepted {
		t.accepted += len(ids)
	}
	check := func(user string, seen map[string]int) {
		for _, ids := range [][]string{tr.channel, tr.accepted[user]} {
			for _, id := range ids {
				t.due++
				switch n := seen[id]; {
				case n == 0:
					t.lost++
					if len(t.firstLost) < 5 {
						t.firstLost = append(t.firstLost, user+"/"+id)
					}
				default:
					t.delivered++
					t.duplicates += n - 1
				}
			}
		}
	}
	for _, c := range natives {
		c.mu.Lock()
		check(c.user, c.seen)
		t.nativeReconnects += c.connects - 1
		c.mu.Unlock()
	}
	for _, l := range sio.Lines {
		if l["step"] != "report" {
			continue
		}
		user, _ := l["user"].(string)
		raw, _ := l["seen"].(map[string]any)
		seen := make(map[string]int, len(raw))
		for id, n := range raw {
			f, _ := n.(float64)
			seen[id] = int(f)
		}
		check(user, seen)
		connects, _ := l["connects"].(float64)
		recovered, _ := l["recovered"].(float64)
		t.sioReconnects += int(connects) - 1
		t.sioRecovered += int(recovered)
	}
	return t
}

type dropsCuts struct{ resets, blackholes int }

// cutAtRandom cuts connections through the proxies until ctx ends, in
// rounds 200ms apart on one proxy chosen at random: either, for 200ms, it
// resets a fifth of the proxy's connections as data next flows, or it
// black-holes a fifth of each direction's for two seconds, long enough for
// a heartbeat to notice. Toxiproxy applies a toxic to each connection with
// the given toxicity.
func cutAtRandom(ctx context.Context, proxies []*faultProxy) dropsCuts {
	var c dropsCuts
	add := func(p *faultProxy, toxic string) {
		if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			panic(fmt.Sprintf("toxic %s: %v", toxic, err)) // a bad toxic is a bug in this test
		}
	}
	for ctx.Err() == nil {
		p := proxies[rand.N(len(proxies))]
		if rand.N(2) == 0 {
			add(p, `{"name":"reset","type":"reset_peer","stream":"downstream","toxicity":0.2,"attributes":{"timeout":0}}`)
			sleepCtx(ctx, 200*time.Millisecond)
			p.clear()
			c.resets++
		} else {
			for _, stream := range []string{"upstream", "downstream"} {
				add(p, `{"name":"hole-`+stream+`","type":"timeout","stream":"`+stream+`","toxicity":0.2,"attributes":{"timeout":0}}`)
			}
			sleepCtx(ctx, 2*time.Second)
			p.clear()
			c.blackholes++
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	return c
}
