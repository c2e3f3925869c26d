package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/redistest"
	"github.com/fleetwire/fleetwire/test/testproc"
)

// The network-drops scenario against Centrifugo, the peer
// docs/reliability.md compares with: the same fleet shape (two nodes on
// one redis-server), the same cuts through Toxiproxy, the same channel
// traffic, with clients that recover with Centrifugo's own offset and
// epoch. It runs only when FLEETWIRE_CENTRIFUGO names a centrifugo binary
// (make faults builds one with hack/setup-centrifugo.sh).

const centrifugoSecret = "centrifugo-side-by-side-secret-0123456789"

// cfChannel has no namespace: in Centrifugo a colon starts one.
const cfChannel = "drops_all"

// TestNetworkDropsCentrifugo prints what Centrifugo delivers through the
// cuts of TestNetworkDropsLoseNothing. It asserts nothing of Centrifugo
// beyond having run: the figures are for the comparison.
func TestNetworkDropsCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	scale := dropsScaleFromEnv()
	clients := scale.native + scale.sio
	rs := redistest.Start(t)
	var nodes []*cfNode
	for range 2 {
		nodes = append(nodes, startCentrifugo(t, bin, rs.Addr()))
	}
	proxies := []*faultProxy{startFaultProxy(t, nodes[0].addr), startFaultProxy(t, nodes[1].addr)}

	ctx, cancel := context.WithTimeout(context.Background(), scale.cutting+3*time.Minute)
	defer cancel()
	var cs []*cfClient
	for i := range clients {
		cs = append(cs, &cfClient{url: "ws://" + proxies[i%2].addr() + "/connection/websocket",
			token: centrifugoToken(t, fmt.Sprintf("cf-%d", i)), seen: map[int]int{}})
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(wait)
	for _, c := range cs {
		for !c.subscribed.Load() {
			if time.Now().After(deadline) {
				errLine := "none"
				if e := c.lastErr.Load(); e != nil {
					errLine = *e
				}
				t.Fatalf("a Centrifugo client never subscribed; its first error reply: %s", errLine)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	pub := &cfPublisher{node: nodes[0].addr}
	publish := pub.publish
	cutCtx, stopCuts := context.WithTimeout(ctx, scale.cutting)
	defer stopCuts()
	cuts := make(chan dropsCuts, 1)
	go func() { cuts <- cutAtRandom(cutCtx, proxies) }()
	for tick := time.NewTicker(dropsPublishEvery); cutCtx.Err() == nil; {
		select {
		case <-cutCtx.Done():
		case <-tick.C:
			publish(false)
		}
	}
	cut := <-cuts
	for _, p := range proxies {
		p.clear()
	}
	publish(true)
	for ctx.Err() == nil && !cfAllEnded(cs) {
		sleepCtx(ctx, 50*time.Millisecond)
	}
	tl := pub.tally(cs)
	t.Logf("Centrifugo, network drops: %d clients for %s; %d rounds of resets and %d of black-holes; %d reconnects",
		clients, scale.cutting, cut.resets, cut.blackholes, tl.reconnects)
	t.Logf("Centrifugo: %s", tl)
	if len(pub.accepted) == 0 || tl.reconnects == 0 {
		t.Fatal("nothing was accepted or no connection was cut: the comparison measured nothing")
	}
}

// TestRedisRestartCentrifugo is TestChannelPublishesThroughARedisRestartAreNotLost
// against Centrifugo: two nodes on one redis-server, a subscriber on
// each, publications through node A every 20ms; Redis is killed and
// started again, empty, half a second later, and six publications go out
// at once right then. Printed: what was accepted, refused, delivered and
// lost.
func TestRedisRestartCentrifugo(t *testing.T) {
	bin := centrifugoBin(t)
	rs := redistest.Start(t)
	nodes := []*cfNode{startCentrifugo(t, bin, rs.Addr()), startCentrifugo(t, bin, rs.Addr())}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cs []*cfClient
	for i, n := range nodes {
		cs = append(cs, &cfClient{url: "ws://" + n.addr + "/connection/websocket", token: centrifugoToken(t, fmt.Sprintf("cf-restart-%d", i)), seen: map[int]int{}})
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	eventually(t, "both subscribers on the channel", func() bool { return cs[0].subscribed.Load() && cs[1].subscribed.Load() })

	pub := &cfPublisher{node: nodes[0].addr}
	for range 5 {
		pub.publish(false)
	}
	rs.Stop()
	down, resumed := time.Now(), false
	for i := 0; time.Since(down) < 2*time.Second && i < 200; i++ {
		if !resumed && time.Since(down) > 500*time.Millisecond {
			rs.Resume(t)
			resumed = true
			for range 6 {
				pub.publish(false)
			}
		}
		pub.publish(false)
		time.Sleep(20 * time.Millisecond)
	}
	pub.publish(true)
	for ctx.Err() == nil && !cfAllEnded(cs) {
		sleepCtx(ctx, 50*time.Millisecond)
	}
	tl := pub.tally(cs)
	t.Logf("Centrifugo, Redis restart: %s; %d reconnects", tl, tl.reconnects)
	if len(pub.accepted) == 0 {
		t.Fatal("nothing was accepted: the comparison measured nothing")
	}
}

// cfPublisher publishes to cfChannel through a node's HTTP API and
// records what it accepted, by the sequence number it puts in each.
type cfPublisher struct {
	node          string
	accepted      []int // the seq of each accepted publication
	sent, refused int
}

func (p *cfPublisher) publish(end bool) {
	p.sent++
	seq := p.sent
	if cfCall(p.node, "publish", map[string]any{"channel": cfChannel, "data": map[string]any{"seq": seq, "end": end}}, nil) != nil {
		p.refused++
		return
	}
	p.accepted = append(p.accepted, seq)
}

// cfCall calls a method of a Centrifugo node's HTTP API with body, and
// decodes its result into result when it is not nil. An error says the
// call failed, was refused, or answered an error.
func cfCall(node, method string, body, result any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+node+"/api/"+method, bytes.NewReader(b))
	req.Header.Set("X-API-Key", centrifugoSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Error  any             `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil || r.Error != nil || r.Result == nil {
		return fmt.Errorf("%s answered %d: %s", method, resp.StatusCode, raw)
	}
	if result != nil {
		return json.Unmarshal(r.Result, result)
	}
	return nil
}

type cfTally struct {
	sent, accepted, refused, due, delivered, dups, reconnects int
}

func (t cfTally) String() string {
	return fmt.Sprintf("sent %d, accepted %d, refused %d; deliveries due %d, delivered %d, duplicates %d, lost %d",
		t.sent, t.accepted, t.refused, t.due, t.delivered, t.dups, t.due-t.delivered)
}

// tally counts, for every client, the accepted publications it read, by
// the sequence number the publisher put in each: offsets start again in a
// stream that Redis lost.
func (p *cfPublisher) tally(cs []*cfClient) cfTally {
	t := cfTally{sent: p.sent, accepted: len(p.accepted), refused: p.refused}
	for _, c := range cs {
		c.mu.Lock()
		for _, seq := range p.accepted {
			t.due++
			if n := c.seen[seq]; n > 0 {
				t.delivered++
				t.dups += n - 1
			}
		}
		t.reconnects += c.connects - 1
		c.mu.Unlock()
	}
	return t
}

// centrifugoBin is the centrifugo binary FLEETWIRE_CENTRIFUGO names; the
// test is skipped without one.
func centrifugoBin(t *testing.T) string {
	bin := os.Getenv("FLEETWIRE_CENTRIFUGO")
	if bin == "" {
		t.Skip("FLEETWIRE_CENTRIFUGO is not set (make faults sets it)")
	}
	return bin
}

// cfNode is a running Centrifugo node.
type cfNode struct {
	addr string // host:port
	pid  int
}

// startCentrifugo runs a Centrifugo node on the Redis at redisAddr ("" for
// its in-memory engine). Each tune changes the configuration first.
func startCentrifugo(t *testing.T, bin, redisAddr string, tune ...func(cfg map[string]any)) *cfNode {
	t.Helper()
	port := freePort(t)
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"health":      map[string]any{"enabled": true},
		"client": map[string]any{
			"token":           map[string]any{"hmac_secret_key": centrifugoSecret},
			"allowed_origins": []string{"*"},
			// Heartbeats as short as the runtime's in this scenario.
			"ping_interval": "1s", "pong_timeout": "500ms",
		},
		"http_api": map[string]any{"key": centrifugoSecret},
		"engine":   map[string]any{"type": "redis", "redis": map[string]any{"address": []string{"redis://" + redisAddr}}},
		"channel": map[string]any{"without_namespace": map[string]any{
			"allow_subscribe_for_client": true, "history_size": 1000, "history_ttl": "300s", "force_recovery": true,
		}},
		"log": map[string]any{"level": "error"},
	}
	if redisAddr == "" {
		delete(cfg, "engine")
	}
	for _, f := range tune {
		f(cfg)
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("centrifugo logs:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "Centrifugo to listen", func() bool { return testproc.Answers200("http://" + addr + "/health") })
	return &cfNode{addr: addr, pid: cmd.Process.Pid}
}

// cfSection returns the named section of a Centrifugo configuration,
// for a tune to change.
func cfSection(cfg map[string]any, name string) map[string]any {
	return cfg[name].(map[string]any)
}

func centrifugoToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(centrifugoSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// cfClient speaks Centrifugo's JSON protocol: connect with a token,
// subscribe to the channel asking to recover from the last offset it
// read, answer pings, and count each publication's offset.
type cfClient struct {
	url, token string
	subscribed atomic.Bool
	ended      atomic.Bool
	lastErr    atomic.Pointer[string] // the first error reply, for a failure's message

	mu       sync.Mutex
	seen     map[int]int // by the publisher's seq
	offset   uint64
	epoch    string
	connects int
}

func cfAllEnded(cs []*cfClient) bool {
	for _, c := range cs {
		if !c.ended.Load() {
			return false
		}
	}
	return true
}

func (c *cfClient) run(ctx context.Context) {
	redialLoop(ctx, c.url, nil, c.ended.Load, func() {
		c.mu.Lock()
		c.connects++
		c.mu.Unlock()
	}, c.session)
}

func (c *cfClient) session(ws *websocket.Conn) {
	_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if ws.WriteJSON(map[string]any{"id": 1, "connect": map[string]any{"token": c.token}}) != nil || c.subscribe(ws, 2) != nil {
		return
	}
	for !c.ended.Load() {
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		// Several replies may come in one frame, a JSON object a line.
		for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
			if !c.handle(ws, line) {
				return
			}
		}
	}
}

type cfPublication struct {
	Offset uint64 `json:"offset"`
	Data   struct {
		Seq int  `json:"seq"`
		End bool `json:"end"`
	} `json:"data"`
}

func (c *cfClient) handle(ws *websocket.Conn, line string) bool {
	if line == "{}" { // a ping: answer it
		_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
		return ws.WriteMessage(websocket.TextMessage, []byte("{}")) == nil
	}
	var f struct {
		ID        int `json:"id"`
		Error     any `json:"error"`
		Subscribe *struct {
			Recovered    bool            `json:"recovered"`
			Epoch        string          `json:"epoch"`
			Offset       uint64          `json:"offset"`
			Publications []cfPublication `json:"publications"`
		} `json:"subscribe"`
		Push *struct {
			Pub         *cfPublication `json:"pub"`
			Unsubscribe *struct {
				Code int `json:"code"`
			} `json:"unsubscribe"`
		} `json:"push"`
	}
	if json.Unmarshal([]byte(line), &f) != nil || f.Error != nil {
		if f.Error != nil && c.lastErr.Load() == nil {
			c.lastErr.Store(&line)
		}
		return f.Error == nil
	}
	switch {
	case f.Subscribe != nil:
		c.mu.Lock()
		lost := c.epoch != "" && c.epoch != f.Subscribe.Epoch
		if c.epoch != f.Subscribe.Epoch {
			// A new stream: the first subscribe, or Redis lost the old
			// one. Its position starts where the server says.
			c.epoch, c.offset = f.Subscribe.Epoch, f.Subscribe.Offset
		}
		if lost {
			// What the new stream already holds was published while this
			// client was away: ask for it from the stream's start, as
			// the runtime's clients do with since "".
			c.offset = 0
		}
		c.mu.Unlock()
		for _, p := range f.Subscribe.Publications {
			c.read(p)
		}
		c.subscribed.Store(true)
		if lost {
			_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
			if ws.WriteJSON(map[string]any{"id": 4, "unsubscribe": map[string]any{"channel": cfChannel}}) != nil {
				return false
			}
			return c.subscribe(ws, 5) == nil
		}
	case f.Push != nil && f.Push.Pub != nil:
		c.read(*f.Push.Pub)
	case f.Push != nil && f.Push.Unsubscribe != nil:
		// The server dropped the subscription (insufficient state, say,
		// after Redis lost the stream): subscribe again, recovering, as
		// Centrifugo's own SDKs do.
		return c.subscribe(ws, 3) == nil
	}
	return true
}

// subscribe asks for the channel, recovering from the last offset read
// once there is an epoch.
func (c *cfClient) subscribe(ws *websocket.Conn, id int) error {
	sub := map[string]any{"channel": cfChannel}
	c.mu.Lock()
	if c.epoch != "" {
		sub["recover"], sub["offset"], sub["epoch"] = true, c.offset, c.epoch
	}
	c.mu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
	return ws.WriteJSON(map[string]any{"id": id, "subscribe": sub})
}

func (c *cfClient) read(p cfPublication) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[p.Data.Seq]++
	c.offset = p.Offset
	if p.Data.End {
		c.ended.Store(true)
	}
}
