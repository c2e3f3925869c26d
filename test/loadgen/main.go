// Command loadgen is Fleetwire's load generator. It opens many
// authenticated WebSocket connections to a runtime on loopback, subscribes
// each to a channel, holds them idle and reports the runtime's resident
// memory per connection; optionally it publishes to all of them and reports
// fan-out throughput.
//
//	go run ./test/loadgen --conns 10000 --pid $(pgrep -f fleetwire-runtime) --secret "$JWT_SECRET"
//
// Every run is bounded in connections and in time, and only loopback
// targets are accepted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/test/procstat"
)

// maxConns stays below this machine's per-process file limit (20000), which
// both the runtime and this generator must fit within.
const maxConns = 19500

type options struct {
	url         string
	urls        []string // url split on commas: connections go round-robin
	conns       int
	users       int
	concurrency int
	compress    bool
	rate        int
	mode        string
	sources     int
	duration    time.Duration
	drain       time.Duration
	slow        int           // connections that never read, to show the others are not held up
	pad         int           // paced: bytes of padding in each message
	userPrefix  string        // user ids are this and a number
	awaitBcast  time.Duration // idle: how long to wait for one broadcast to reach every connection
	results     []string      // compare: the two servers' result files
	names       []string      // compare: their names
	lifetime    time.Duration // churn: how long a connection lives, on average
	offline     time.Duration // churn: the longest a client stays away
	pid         int
	secret      string
	hold        time.Duration
	deadline    time.Duration
	fanout      int
	socketIO    bool // speak Socket.IO (Engine.IO over WebSocket) instead of the native protocol
	centrifugo  bool // speak Centrifugo's JSON protocol, to measure it side by side
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parse() (options, error) {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "runtime WebSocket URL, or several separated by commas to spread connections over a fleet (loopback only); publishes go to the first")
	flag.IntVar(&o.conns, "conns", 1000, fmt.Sprintf("connections to open (at most %d)", maxConns))
	flag.IntVar(&o.users, "users", 0, "distinct users (default: one per connection)")
	flag.IntVar(&o.concurrency, "concurrency", 32, "parallel dialers")
	flag.IntVar(&o.pid, "pid", 0, "runtime process id, to read its RSS from /proc")
	flag.StringVar(&o.secret, "secret", os.Getenv("JWT_SECRET"), "HS256 secret the runtime verifies with (default $JWT_SECRET)")
	flag.DurationVar(&o.hold, "hold", 10*time.Second, "how long to hold the connections idle before measuring")
	flag.DurationVar(&o.deadline, "deadline", 5*time.Minute, "hard bound on the whole run")
	flag.IntVar(&o.fanout, "fanout", 0, "messages to publish to all connections after the memory measurement")
	flag.StringVar(&o.mode, "mode", "idle", "idle (hold --conns connections, then --fanout and --rate runs), connect-rate (open and close --conns connections, --concurrency at a time), storm (hold them, then drop them all at once and redial), churn (each connection comes and goes, every --lifetime or so, while --rate messages a second go to the users for --duration; counts what was lost), or compare (prints two servers' --results side by side)")
	flag.IntVar(&o.slow, "slow", 0, "of the --conns connections, how many subscribe and then never read (a slow consumer): the paced run counts only the others, and reports the server's RSS peak")
	flag.StringVar(&o.userPrefix, "user-prefix", "load-", "user ids are this followed by a number; give each generator its own when several share a fleet")
	flag.DurationVar(&o.awaitBcast, "await-broadcast", 0, "idle: after the memory measurement, print \"awaiting a broadcast\" and wait up to this long for one message of type bench (payload {\"sent\": unix ns}) to reach every connection; report how long after its stamp the last one got it")
	flag.IntVar(&o.pad, "pad", 100, "paced: bytes of padding in each published message")
	results := flag.String("results", "", "compare: two files of result lines (this program's output for two servers), comma-separated")
	names := flag.String("names", "Fleetwire,Centrifugo", "compare: the two servers' names")
	flag.DurationVar(&o.lifetime, "lifetime", 2*time.Second, "churn: how long a connection lives on average (±50 %)")
	flag.DurationVar(&o.offline, "offline", 200*time.Millisecond, "churn: the longest a client stays away before it reconnects")
	flag.IntVar(&o.sources, "sources", 4, "loopback source addresses to spread the connections over (127.0.0.1 to 127.0.0.N), so that none runs out of ports")
	flag.IntVar(&o.rate, "rate", 0, "paced fan-out: publishes per second, each to every connection, for --duration (0: no paced run)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long the paced fan-out publishes")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "how long the paced fan-out waits for the last deliveries")
	flag.BoolVar(&o.compress, "compress", false, "offer permessage-deflate (the runtime needs transport.compression: true to accept it)")
	protocol := flag.String("protocol", "native", "native (the /ws protocol), socketio (Socket.IO v4 over its WebSocket transport; --url is then e.g. ws://127.0.0.1:8080/socket.io/) or centrifugo (Centrifugo's JSON protocol, for side-by-side runs; --url ws://127.0.0.1:8000/connection/websocket, --secret is both its token secret and its API key)")
	flag.Parse()
	switch *protocol {
	case "native":
	case "socketio":
		o.socketIO = true
	case "centrifugo":
		o.centrifugo = true
	default:
		return o, fmt.Errorf("--protocol must be native, socketio or centrifugo, got %q", *protocol)
	}
	if o.conns < 1 || o.conns > maxConns {
		return o, fmt.Errorf("--conns must be 1..%d", maxConns)
	}
	switch o.mode {
	case "compare":
		o.results, o.names = strings.Split(*results, ","), strings.Split(*names, ",")
		return o, nil
	case "idle", "connect-rate", "storm":
	case "churn":
		if o.lifetime < 10*time.Millisecond || o.offline < 0 || o.rate == 0 {
			return o, errors.New("--mode churn needs --rate above 0, --lifetime of at least 10ms and --offline of at least 0")
		}
	default:
		return o, fmt.Errorf("--mode must be idle, connect-rate, storm, churn or compare, got %q", o.mode)
	}
	if o.sources < 1 || o.sources > 250 {
		return o, errors.New("--sources must be 1..250")
	}
	if o.rate < 0 || o.rate > 10000 || (o.rate > 0 && (o.duration <= 0 || o.duration > 10*time.Minute)) {
		return o, errors.New("--rate must be 0..10000, with --duration from above 0 to 10m")
	}
	if o.pad < 0 || o.pad > 60000 {
		return o, errors.New("--pad must be 0..60000")
	}
	if o.slow < 0 || o.slow >= o.conns {
		return o, errors.New("--slow must be 0 or more, and fewer than --conns")
	}
	if o.users <= 0 || o.users > o.conns {
		o.users = o.conns
	}
	if o.secret == "" {
		return o, errors.New("--secret (or $JWT_SECRET) is required")
	}
	o.urls = strings.Split(o.url, ",")
	o.url = o.urls[0]
	for _, raw := range o.urls {
		u, err := url.Parse(raw)
		if err != nil {
			return o, err
		}
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return o, fmt.Errorf("--url host %q is not a loopback address; load is only sent to 127.0.0.0/8 or ::1", u.Hostname())
		}
	}
	return o, nil
}

func run() error {
	o, err := parse()
	if err != nil {
		return err
	}
	if o.mode == "compare" {
		return compare(os.Stdout, o.names, o.results)
	}
	raiseFileLimit(o.conns)
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()

	baseline := procstat.RSSKiB(o.pid)
	fmt.Printf("server RSS before: %d KiB\n", baseline)
	heapBefore := goMemory(ctx, o.url)

	tokens := make([]string, o.users)
	for i := range tokens {
		if tokens[i], err = auth.SignHS256([]byte(o.secret), auth.TokenRequest{UserID: fmt.Sprintf("%s%d", o.userPrefix, i), TTL: o.deadline + time.Hour}); err != nil {
			return err
		}
	}
	switch o.mode {
	case "connect-rate":
		return connectRate(ctx, o, tokens)
	case "churn":
		_, err := churn(ctx, o, tokens)
		return err
	}
	watchBroadcast = o.awaitBcast > 0
	if o.rate > 0 {
		track = newTracker(int(math.Ceil(float64(o.rate) * o.duration.Seconds())))
	}
	start := time.Now()
	conns, received, err := dialAll(ctx, o, tokens)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("connected and subscribed %d connections in %s\n", len(conns), time.Since(start).Round(time.Millisecond))

	select {
	case <-time.After(o.hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	after := procstat.RSSKiB(o.pid)
	idle := idleResult{Mode: "idle", Connections: len(conns)}
	if o.pid > 0 {
		per := float64(after-baseline) / float64(len(conns))
		idle.RSSKiBPerConnection = per
		fmt.Printf("server RSS after %s idle: %d KiB; delta %d KiB; %.2f KiB per connection\n", o.hold, after, after-baseline, per)
	}
	if heap := goMemory(ctx, o.url); heap.ok && heapBefore.ok {
		n := float64(len(conns)) * 1024
		idle.HeapGoalKiBPerConnection = (heap.goal - heapBefore.goal) / n
		fmt.Printf("server Go heap in use %.2f KiB and goroutine stacks %.2f KiB per connection (go_memstats_heap_alloc_bytes, go_memstats_stack_inuse_bytes)\n",
			(heap.heap-heapBefore.heap)/n, (heap.stack-heapBefore.stack)/n)
		fmt.Printf("server GC heap goal %.2f KiB per connection (go_memstats_next_gc_bytes: twice the heap live at the last collection, plus the stacks)\n",
			idle.HeapGoalKiBPerConnection)
	}
	if o.awaitBcast > 0 {
		awaitBroadcast(ctx, o.awaitBcast, received, len(conns), &idle)
	}
	line, _ := json.Marshal(idle)
	fmt.Println(string(line))
	if o.mode == "storm" {
		return storm(ctx, o, conns, tokens)
	}
	if o.fanout > 0 {
		if err := fanout(ctx, o, conns, received); err != nil {
			return err
		}
	}
	if o.rate > 0 {
		return paced(ctx, o, len(conns)-o.slow)
	}
	return nil
}

// raiseFileLimit lifts this process's open-file limit to its hard limit,
// and says so when even that is short of the connections asked for.
func raiseFileLimit(conns int) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: could not raise the open-file limit:", err)
		}
	}
	if need := uint64(conns) + 64; l.Cur < need {
		fmt.Fprintf(os.Stderr, "loadgen: the open-file limit is %d, short of the %d connections asked for; raise the hard limit (ulimit -Hn)\n", l.Cur, conns)
	}
}

// idleResult is the JSON line of the idle measurement.
type idleResult struct {
	Mode                     string  `json:"mode"` // "idle"
	Connections              int     `json:"connections"`
	RSSKiBPerConnection      float64 `json:"rssKiBPerConnection,omitempty"`
	HeapGoalKiBPerConnection float64 `json:"heapGoalKiBPerConnection,omitempty"`
	// BroadcastReached and BroadcastLastMs, with --await-broadcast: how
	// many connections got the broadcast, and when the last did, after
	// the stamp it carried.
	BroadcastReached int64   `json:"broadcastReached,omitempty"`
	BroadcastLastMs  float64 `json:"broadcastLastMs,omitempty"`
}

// watchBroadcast is set, with --await-broadcast, before any connection
// reads.
var watchBroadcast bool

// lastBench is when a connection last read a bench message (unix ns), and
// benchSent the "sent" stamp of the first one read, for --await-broadcast.
var lastBench, benchSent atomic.Int64

// awaitBroadcast waits up to d for every connection to have read one
// bench message.
func awaitBroadcast(ctx context.Context, d time.Duration, received *atomic.Int64, conns int, res *idleResult) {
	fmt.Println("awaiting a broadcast")
	deadline := time.Now().Add(d)
	for received.Load() < int64(conns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	res.BroadcastReached = received.Load()
	if sent := benchSent.Load(); sent > 0 {
		res.BroadcastLastMs = float64(lastBench.Load()-sent) / 1e6
	}
	fmt.Printf("broadcast: %d of %d connections got it; the last %.1fms after its stamp\n", res.BroadcastReached, conns, res.BroadcastLastMs)
}

// dialAll opens o.conns connections with bounded parallelism. Each gets a
// reader goroutine that counts application messages.
func dialAll(ctx context.Context, o options, tokens []string) ([]*websocket.Conn, *atomic.Int64, error) {
	var (
		mu       sync.Mutex
		conns    = make([]*websocket.Conn, 0, o.conns)
		received atomic.Int64
		firstErr error
	)
	started := time.Now()
	dialWorkers(ctx, o, tokens, func(i int, c *websocket.Conn, _ time.Duration, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("connection %d: %w", i, err)
			}
			return false
		}
		conns = append(conns, c)
		if n := len(conns); n%2000 == 0 {
			fmt.Printf("  %d connected after %s\n", n, time.Since(started).Round(time.Millisecond))
		}
		switch {
		case len(conns) <= o.slow:
			// A slow consumer: it never reads, so the server's writes to
			// it back up until the server gives up on it.
		case o.centrifugo:
			go countCentrifugo(c, func(line []byte) {
				received.Add(1)
				if track != nil {
					track.note(line)
				}
			})
		default:
			go count(c, &received, o.socketIO)
		}
		return true
	})
	return conns, &received, firstErr
}

// dialWorkers dials connections 0 to o.conns-1 on o.concurrency workers,
// over o.sources loopback source addresses when it is set, and hands each
// outcome to got; a worker stops when got returns false.
func dialWorkers(ctx context.Context, o options, tokens []string, got func(i int, c *websocket.Conn, took time.Duration, err error) bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range o.concurrency {
		d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024, EnableCompression: o.compress}
		if o.sources > 0 {
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+w%o.sources))}
			d.NetDialContext = (&net.Dialer{LocalAddr: src}).DialContext
		}
		dial := dialOne
		switch {
		case o.socketIO:
			dial = dialSocketIO
		case o.centrifugo:
			dial = dialCentrifugo
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= o.conns {
					return
				}
				t0 := time.Now()
				c, err := dial(ctx, d, o.urls[i%len(o.urls)], tokens[i%len(tokens)])
				if !got(i, c, time.Since(t0), err) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func dialOne(ctx context.Context, d websocket.Dialer, u, token string) (*websocket.Conn, error) {
	c, resp, err := d.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil { // "connected"
		c.Close()
		return nil, err
	}
	sub := []byte(`{"event":"subscribe","id":1,"data":{"channels":["bench:all"]}}`)
	if err := c.WriteMessage(websocket.TextMessage, sub); err != nil {
		c.Close()
		return nil, err
	}
	if _, p, err := c.ReadMessage(); err != nil || !bytes.Contains(p, []byte(`"ok":true`)) {
		c.Close()
		return nil, fmt.Errorf("subscribe failed: %s %v", p, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// count reads a connection until it ends, counting the fan-out's
// messages. A Socket.IO connection also answers Engine.IO pings, which a
// native connection's WebSocket library does by itself.
func count(c *websocket.Conn, received *atomic.Int64, socketIO bool) {
	prefix := []byte(`{"event":"bench"`)
	if socketIO {
		prefix = []byte(`42["bench"`)
	}
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(p, prefix):
			received.Add(1)
			if track != nil {
				track.note(p)
			}
			if watchBroadcast {
				lastBench.Store(time.Now().UnixNano())
				if sent, ok := intAfter(p, `"sent":`); ok {
					benchSent.CompareAndSwap(0, sent)
				}
			}
		case socketIO && string(p) == "2":
			if err := c.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				return
			}
		}
	}
}

// publisher returns a function that publishes one payload to the channel
// every connection is on: through the runtime's POST /ws/publish with a
// service token, or through Centrifugo's API.
func publisher(o options) (func(ctx context.Context, payload any) error, error) {
	if o.centrifugo {
		return centrifugoPublisher(o)
	}
	post, err := serviceAPI(o)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, payload any) error {
		body, _ := json.Marshal(map[string]any{"channel": "bench:all", "type": "bench", "payload": payload})
		_, err := post(ctx, "/ws/publish", body)
		return err
	}, nil
}

// serviceAPI returns a function that posts a JSON body to a path of the
// runtime's HTTP API with a service token, and returns the answer's
// messageId; any status but 200 is an error.
func serviceAPI(o options) (func(ctx context.Context, path string, body []byte) (string, error), error) {
	tok, err := auth.SignHS256([]byte(o.secret), auth.TokenRequest{UserID: "loadgen", Roles: []string{auth.RoleService}, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	base := "http://" + u.Host
	return func(ctx context.Context, path string, body []byte) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var r struct{ MessageID string }
		_ = json.NewDecoder(resp.Body).Decode(&r)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("POST %s: HTTP %d", path, resp.StatusCode)
		}
		return r.MessageID, nil
	}, nil
}

// fanout publishes o.fanout messages to the channel every connection is on,
// one at a time, and reports deliveries per second.
func fanout(ctx context.Context, o options, conns []*websocket.Conn, received *atomic.Int64) error {
	publish, err := publisher(o)
	if err != nil {
		return err
	}
	payload := map[string]any{"text": strings.Repeat("x", 100)}
	want := int64(len(conns)) * int64(o.fanout)
	start := time.Now()
	for i := 0; i < o.fanout; i++ {
		if err := publish(ctx, payload); err != nil {
			return err
		}
	}
	for received.Load() < want && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	got := received.Load()
	fmt.Printf("fan-out: %d messages x %d connections = %d deliveries (received %d) in %s: %.0f deliveries/s\n",
		o.fanout, len(conns), want, got, el.Round(time.Millisecond), float64(got)/el.Seconds())
	if got < want {
		return fmt.Errorf("only %d of %d deliveries arrived before the deadline", got, want)
	}
	return nil
}

// goStats are the runtime's Go memory gauges, from its /metrics.
type goStats struct {
	heap, stack, goal float64
	ok                bool
}

// goMemory reads the runtime's heap and stack gauges from /metrics. The
// heap figure includes garbage since the last collection, which an idle
// runtime makes little of, and Go collects at least every two minutes.
// The heap goal depends only on what the last collection found live, so
// it varies less from run to run than RSS, which also depends on how much
// free memory the runtime has handed back to the kernel so far.
func goMemory(ctx context.Context, wsURL string) goStats {
	u, err := url.Parse(wsURL)
	if err != nil {
		return goStats{}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+u.Host+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return goStats{}
	}
	defer resp.Body.Close()
	var st goStats
	sc := bufio.NewScanner(resp.Body)
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_alloc_bytes":
			st.heap, found = v, found+1
		case "go_memstats_stack_inuse_bytes":
			st.stack, found = v, found+1
		case "go_memstats_next_gc_bytes":
			st.goal, found = v, found+1
		}
	}
	st.ok = found == 3
	return st
}
