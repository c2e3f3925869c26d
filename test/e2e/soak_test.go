package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// soakScale is the length of the soak. make test runs it in miniature;
// make faults (FLEETWIRE_FAULTS=full) for ten minutes.
type soakScale struct {
	rounds  int           // load rounds between the two checkpoints
	round   time.Duration // how long each round's load runs
	clients int           // connections per round
}

func soakScaleFromEnv() soakScale {
	if os.Getenv("FLEETWIRE_FAULTS") == "full" {
		return soakScale{rounds: 60, round: 10 * time.Second, clients: 200}
	}
	return soakScale{rounds: 4, round: 2 * time.Second, clients: 60}
}

// soakSample is what a node holds when no client is connected.
type soakSample struct {
	goroutines, fds, heapGoal []float64 // per node
	keys                      int64     // in Redis
	lasting                   int       // keys without an expiry
	kinds                     map[string]int
}

// TestSoakLeavesNothingBehind runs mixed load on three nodes sharing
// Redis, in rounds: clients connect to random nodes, subscribe, get
// messages sent to them and published to their channels, and leave at
// random times, while others come. Between rounds every client has left.
// After a first round of warm-up, the quiet fleet is sampled; after the
// last round, again. Goroutines and file descriptors must be back where
// they were, the GC heap goal and Redis's key count within a margin:
// nothing leaks per connection, per channel or per message.
func TestSoakLeavesNothingBehind(t *testing.T) {
	scale := soakScaleFromEnv()
	srv, nodes := startFleet(t, 3, "rateLimit:\n  max: 0\n  connectionsPerIP: {limit: 0}\n  connectionsPerUser: 0\n")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(scale.rounds+2)*(scale.round+30*time.Second))
	defer cancel()

	var stats soakStats
	soakRound(t, ctx, nodes, scale, &stats) // warm-up: pools, maps and histories reach their size
	first := sampleQuiet(t, ctx, nodes, rdb)
	for range scale.rounds {
		soakRound(t, ctx, nodes, scale, &stats)
	}
	last := sampleQuiet(t, ctx, nodes, rdb)
	t.Logf("soak: %d rounds of %s after a warm-up round; %d connections, %d sends, %d publications, %d messages read",
		scale.rounds, scale.round, stats.connects.Load(), stats.sends.Load(), stats.publishes.Load(), stats.reads.Load())
	t.Logf("quiet fleet after the warm-up: goroutines %v, fds %v, GC heap goal %v MiB, Redis keys %d (%d without an expiry)", first.goroutines, first.fds, mib(first.heapGoal), first.keys, first.lasting)
	t.Logf("quiet fleet at the end:        goroutines %v, fds %v, GC heap goal %v MiB, Redis keys %d (%d without an expiry)", last.goroutines, last.fds, mib(last.heapGoal), last.keys, last.lasting)
	t.Logf("Redis keys by kind, after the warm-up %v, at the end %v", first.kinds, last.kinds)
	for i := range nodes {
		if d := last.goroutines[i] - first.goroutines[i]; d > 5 {
			t.Errorf("node %d: %v more goroutines after the soak", i, d)
		}
		// go-redis keeps up to its pool size of idle connections (10 per
		// CPU), opened as load needs them: the margin allows for those,
		// not for a file per connection or message.
		if d := last.fds[i] - first.fds[i]; d > 25 {
			t.Errorf("node %d: %v more open files after the soak", i, d)
		}
		if last.heapGoal[i] > 1.5*first.heapGoal[i]+4<<20 {
			t.Errorf("node %d: GC heap goal grew from %.1f to %.1f MiB", i, first.heapGoal[i]/(1<<20), last.heapGoal[i]/(1<<20))
		}
	}
	// Keys with an expiry (rate-limit counters, histories, queues with a
	// TTL) go by themselves; a key that never expires must not multiply.
	if last.lasting > first.lasting+first.lasting/10+5 {
		t.Errorf("Redis keys without an expiry grew from %d to %d", first.lasting, last.lasting)
	}
	if stats.reads.Load() == 0 {
		t.Fatal("no message was read: the soak tested nothing")
	}
}

type soakStats struct{ connects, sends, publishes, reads atomic.Int64 }

// soakRound runs one round of load and returns once every client of the
// round has left.
func soakRound(t *testing.T, ctx context.Context, nodes []*node, scale soakScale, stats *soakStats) {
	roundCtx, cancel := context.WithTimeout(ctx, scale.round)
	defer cancel()
	users := 50
	channels := 10
	var wg sync.WaitGroup
	for i := range scale.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Clients arrive over the first half of the round and stay
			// for a random part of what is left.
			sleepCtx(roundCtx, rand.N(scale.round/2))
			n := nodes[rand.N(len(nodes))]
			user := fmt.Sprintf("soak-%d", i%users)
			ws, _, err := websocket.DefaultDialer.DialContext(roundCtx, strings.Replace(n.base, "http://", "ws://", 1)+"/ws",
				http.Header{"Authorization": {"Bearer " + userToken(t, user)}})
			if err != nil {
				return
			}
			defer ws.Close()
			stats.connects.Add(1)
			chans := []string{fmt.Sprintf("soak:%d", rand.N(channels)), fmt.Sprintf("soak:%d", rand.N(channels))}
			_ = ws.WriteJSON(map[string]any{"event": "subscribe", "id": 1, "data": map[string]any{"channels": chans}})
			stay, stayCancel := context.WithTimeout(roundCtx, rand.N(scale.round/2)+time.Millisecond)
			defer stayCancel()
			stop := context.AfterFunc(stay, func() { _ = ws.Close() })
			defer stop()
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				stats.reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // the API side: sends and publications through random nodes
		defer wg.Done()
		tok := serviceToken(t)
		// Every user and channel first, so that the warm-up round
		// creates every key the soak can: later growth is a leak.
		for i := range max(users, channels) {
			n := nodes[i%len(nodes)]
			if i < users {
				_, _ = tryCall(n.base+"/ws/send/"+fmt.Sprintf("soak-%d", i), tok, map[string]any{"type": "note", "payload": map[string]any{}})
			}
			if i < channels {
				_, _ = tryCall(n.base+"/ws/publish", tok, map[string]any{"channel": fmt.Sprintf("soak:%d", i), "type": "news", "payload": map[string]any{}})
			}
		}
		for roundCtx.Err() == nil {
			n := nodes[rand.N(len(nodes))]
			if rand.N(2) == 0 {
				if _, err := tryCall(n.base+"/ws/send/"+fmt.Sprintf("soak-%d", rand.N(users)), tok, map[string]any{"type": "note", "payload": map[string]any{}}); err == nil {
					stats.sends.Add(1)
				}
			} else {
				if _, err := tryCall(n.base+"/ws/publish", tok, map[string]any{"channel": fmt.Sprintf("soak:%d", rand.N(channels)), "type": "news", "payload": map[string]any{}}); err == nil {
					stats.publishes.Add(1)
				}
			}
			sleepCtx(roundCtx, 5*time.Millisecond)
		}
	}()
	wg.Wait()
}

// sampleQuiet waits until no node holds a connection, lets the nodes
// settle, and samples them and Redis.
func sampleQuiet(t *testing.T, ctx context.Context, nodes []*node, rdb *redis.Client) soakSample {
	t.Helper()
	eventually(t, "every client gone", func() bool {
		for _, n := range nodes {
			if activeConnections(t, n) != 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // closing goroutines finish
	var s soakSample
	for _, n := range nodes {
		fams := scrape(t, n)
		s.goroutines = append(s.goroutines, value(t, fams, "go_goroutines", nil))
		s.fds = append(s.fds, value(t, fams, "process_open_fds", nil))
		s.heapGoal = append(s.heapGoal, value(t, fams, "go_memstats_next_gc_bytes", nil))
	}
	keys, err := rdb.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	s.keys = keys
	all, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	kinds := map[string]int{}
	for _, k := range all {
		kind := k
		if i := strings.LastIndexAny(k, ":{"); i > 0 {
			kind = k[:i]
		}
		kinds[kind]++
		if ttl, err := rdb.TTL(ctx, k).Result(); err == nil && ttl < 0 {
			s.lasting++
		}
	}
	s.kinds = kinds
	return s
}

func mib(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.1f", x/(1<<20))
	}
	return out
}
