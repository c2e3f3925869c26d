package autoscale

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

// TestRebalanceSpreadsConnectionsAfterScaleUp runs a RealtimeService that
// autoscales on 10 connections per pod with rebalancing on (margin 25%,
// 10 clients a second):
//
//  1. 30 clients connect to the only pod; the HPA scales the fleet to 3.
//  2. The new pods are empty, so the first pod is 20 over the average of
//     10; the operator orders it to keep 13, the margin's line, and it
//     asks clients to reconnect. They come back through a
//     least-connections balancer, as behind a Service whose proxy picks
//     the emptiest pod, and land on the new pods.
//
// Asserted: every pod ends within the line; all 30 clients are connected
// at the end, none lost; no client was asked twice; the order is removed
// once the pod is within the margin. Printed: the timeline, with each
// pod's order, and each client's moves.
func TestRebalanceSpreadsConnectionsAfterScaleUp(t *testing.T) {
	c := startLocalCluster(t)
	c.startOperator(t)
	c.createChat(t, `{"minReplicas":1,"maxReplicas":3,"targetConnectionsPerPod":10,
		"rebalance":{"enabled":true,"marginPercent":25,"connectionsPerSecond":10}}`)
	tl := c.recordTimeline(t)
	first := c.waitForPods(t, 1)[0]

	lb := &leastConnections{c: c, on: map[string]int{}}
	const clients = 30
	stop := make(chan struct{})
	var wg sync.WaitGroup
	moves := make([][]string, clients) // the pods each client was on, in order
	asks := make([]int, clients)
	var mu sync.Mutex
	for i := range clients {
		user := fmt.Sprintf("user-%02d", i)
		ws, pod, err := lb.dial(user)
		if err != nil {
			t.Fatal(err)
		}
		moves[i] = []string{shortName(pod)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				delay, err := waitForReconnect(ws, stop)
				lb.left(pod)
				if err != nil {
					return
				}
				mu.Lock()
				asks[i]++
				mu.Unlock()
				select { // as a client library honours delayMs
				case <-stop:
					return
				case <-time.After(delay):
				}
				if ws, pod, err = lb.dial(user); err != nil {
					t.Errorf("%s could not reconnect: %v", user, err)
					return
				}
				mu.Lock()
				moves[i] = append(moves[i], shortName(pod))
				mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	tl.note(fmt.Sprintf("%d clients on %s", clients, first))

	pods := c.waitForPods(t, 3)
	tl.note("scaled up to 3")
	line := 13 // ceil(30 / 3 * 1.25)
	var counts map[string]int
	waitFor(t, "every pod within the margin, and every client connected", 3*time.Minute, func() bool {
		counts = map[string]int{}
		total := 0
		for _, p := range pods {
			proc := c.runtimeOf(p)
			if proc == nil {
				return false
			}
			n, err := strconv.Atoi(activeConnections(proc.Addr))
			if err != nil {
				return false
			}
			counts[shortName(p)] = n
			total += n
		}
		for _, n := range counts {
			if n > line {
				return false
			}
		}
		return total == clients
	})
	tl.note(fmt.Sprintf("within the margin: %v", counts))
	waitFor(t, "the order removed", time.Minute, func() bool {
		return c.annotation(first, "realtime.fleetwire.io/rebalance") == ""
	})
	tl.note("the order on " + first + " removed")
	time.Sleep(3 * time.Second) // time for a second ask, were there one
	tl.stop()
	tl.save(t)

	mu.Lock()
	defer mu.Unlock()
	moved := 0
	var paths []string
	for i := range clients {
		if asks[i] > 1 {
			t.Errorf("client %d was asked to reconnect %d times: %v", i, asks[i], moves[i])
		}
		if len(moves[i]) > 1 {
			moved++
			paths = append(paths, fmt.Sprint(moves[i]))
		}
	}
	sort.Strings(paths)
	t.Logf("%d of %d clients moved, each once: %v", moved, clients, paths)
	if moved != clients-line {
		t.Errorf("%d clients moved, want %d: the first pod keeps %d", moved, clients-line, line)
	}
	for _, p := range pods {
		if n := counts[shortName(p)]; n > line {
			t.Errorf("pod %s holds %d, over the line %d", p, n, line)
		}
	}
}

func (c *localCluster) annotation(pod, key string) string {
	p := &corev1.Pod{}
	if err := c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: pod}, p); err != nil {
		return "?"
	}
	return p.Annotations[key]
}

// leastConnections is the test's load balancer: it sends each new
// connection to the running pod with the fewest of its clients.
type leastConnections struct {
	c  *localCluster
	mu sync.Mutex
	on map[string]int // pod -> this balancer's clients on it
}

func (lb *leastConnections) dial(user string) (*websocket.Conn, string, error) {
	lb.mu.Lock()
	lb.c.mu.Lock()
	var pod, addr string
	best := -1
	var names []string
	for name := range lb.c.runtimes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n := lb.on[name]; best < 0 || n < best {
			pod, addr, best = name, lb.c.runtimes[name].Addr, n
		}
	}
	lb.c.mu.Unlock()
	if pod == "" {
		lb.mu.Unlock()
		return nil, "", fmt.Errorf("no pod runs")
	}
	lb.on[pod]++
	lb.mu.Unlock()
	tok, err := auth.SignHS256(jwtKey, auth.TokenRequest{UserID: user, TTL: time.Hour})
	if err != nil {
		return nil, "", err
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		lb.left(pod)
		return nil, "", err
	}
	return ws, pod, nil
}

func (lb *leastConnections) left(pod string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.on[pod]--
}

// waitForReconnect reads until the server closes ws after a "reconnect"
// event, and returns the delay it suggested. It returns an error when the
// connection ends otherwise, or stop closes.
func waitForReconnect(ws *websocket.Conn, stop <-chan struct{}) (time.Duration, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
		case <-done:
		}
		ws.Close()
	}()
	var delay time.Duration
	asked := false
	for {
		_, p, err := ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok && asked && ce.Code == websocket.CloseServiceRestart {
			return delay, nil
		}
		if err != nil {
			return 0, err
		}
		var f struct {
			Event string
			Data  struct {
				DelayMs int64
				Reason  string
			}
		}
		if json.Unmarshal(p, &f) == nil && f.Event == "reconnect" && f.Data.Reason == "rebalance" {
			asked, delay = true, time.Duration(f.Data.DelayMs)*time.Millisecond
		}
	}
}
