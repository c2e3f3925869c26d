package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// rebalanceClient is a real client that does what a client library does
// with a "reconnect" event and a 1012 close: it connects again, here to
// the same node, which is the worst case for a rebalance.
type rebalanceClient struct {
	user string
	asks []string // the reasons of the reconnect events it got
}

// TestRebalanceAsksEachUserOnce gives a node with 20 clients an order to
// keep 12. The clients it asks to reconnect come straight back to it, as
// they would behind a balancer that picked the same pod, so the node
// stays over its target; it still asks no user twice, and stops once
// every user was asked, with every client connected at the end.
func TestRebalanceAsksEachUserOnce(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Drain.ReconnectDelayMax = config.Duration{Duration: 50 * time.Millisecond} })
	admin := adminToken(t)
	const users = 20
	var mu sync.Mutex
	clients := make([]*rebalanceClient, users)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range clients {
		c := &rebalanceClient{user: fmt.Sprintf("user-%02d", i)}
		clients[i] = c
		ws := rawDial(t, n, userToken(t, c.user))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				reason, code, err := readUntilClose(ws, stop)
				if err != nil {
					return // the test ended
				}
				mu.Lock()
				c.asks = append(c.asks, fmt.Sprintf("%s/%d", reason, code))
				mu.Unlock()
				if ws, err = dialQuiet(n, userToken(t, c.user)); err != nil {
					t.Errorf("%s could not reconnect: %v", c.user, err)
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })

	r := call(t, "POST", n.base+"/admin/rebalance", admin, map[string]any{"target": 12, "perSecond": 50, "durationSeconds": 30})
	mustStatus(t, r, 200)
	t.Logf("order: %s", r.Raw)
	asked := func() int {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, c := range clients {
			total += len(c.asks)
		}
		return total
	}
	eventually(t, "every user asked", func() bool { return asked() >= users })
	time.Sleep(1500 * time.Millisecond) // long enough for a second ask at 50/s
	eventually(t, "every client back", func() bool { return n.srv.Hub().Connections() == users })
	mu.Lock()
	for _, c := range clients {
		if len(c.asks) != 1 || c.asks[0] != "rebalance/1012" {
			t.Errorf("%s was asked %v, want once, rebalance/1012", c.user, c.asks)
		}
	}
	mu.Unlock()
	st := call(t, "GET", n.base+"/admin/rebalance", admin, nil)
	t.Logf("state after every user was asked: %s", st.Raw)
	if st.Body["asked"].(float64) != users || st.Body["connections"].(float64) != users {
		t.Errorf("state: %s", st.Raw)
	}
	mustStatus(t, call(t, "DELETE", n.base+"/admin/rebalance", admin, nil), 200)
	if st := call(t, "GET", n.base+"/admin/rebalance", admin, nil); st.Body["order"] != nil {
		t.Errorf("the order stayed after DELETE: %s", st.Raw)
	}
}

// TestRebalanceStopsAtItsTarget gives a node with 20 clients that do not
// come back an order to keep 15: it asks 5, and no more.
func TestRebalanceStopsAtItsTarget(t *testing.T) {
	n := startNode(t, nil)
	admin := adminToken(t)
	var closed sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	reasons := map[string]int{}
	for i := range 20 {
		ws := rawDial(t, n, userToken(t, fmt.Sprintf("user-%02d", i)))
		closed.Add(1)
		go func() {
			defer closed.Done()
			if reason, code, err := readUntilClose(ws, stop); err == nil {
				mu.Lock()
				reasons[fmt.Sprintf("%s/%d", reason, code)]++
				mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { close(stop); closed.Wait() })
	mustStatus(t, call(t, "POST", n.base+"/admin/rebalance", admin, map[string]any{"target": 15, "perSecond": 100}), 200)
	eventually(t, "the node at its target", func() bool { return n.srv.Hub().Connections() == 15 })
	time.Sleep(500 * time.Millisecond) // 50 more chances to shed, at 100/s
	if got := n.srv.Hub().Connections(); got != 15 {
		t.Errorf("%d connections after the order settled, want 15", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(reasons) != "map[rebalance/1012:5]" {
		t.Errorf("clients closed: %v, want 5 rebalance/1012", reasons)
	}
}

func TestRebalanceOrdersAreChecked(t *testing.T) {
	n := startNode(t, nil)
	admin := adminToken(t)
	for _, tc := range []struct {
		body        any
		code, field string
	}{
		{map[string]any{}, "validation_failed", "target"},
		{map[string]any{"target": -1}, "validation_failed", ""},
		{map[string]any{"target": 1, "perSecond": 1000}, "validation_failed", ""},
		{map[string]any{"target": 1, "durationSeconds": 3600}, "validation_failed", ""},
		{map[string]any{"target": 1, "durationSeconds": -5}, "validation_failed", "durationSeconds"},
		{`{"target": "ten"}`, "validation_failed", "target"},
		{`{"target": 1,`, "invalid_json", ""},
	} {
		r := call(t, "POST", n.base+"/admin/rebalance", admin, tc.body)
		if r.Status != http.StatusBadRequest || r.errorCode() != tc.code || r.errorField() != tc.field {
			t.Errorf("%v: %d %s, want 400 %s field %q", tc.body, r.Status, r.Raw, tc.code, tc.field)
		}
	}
	for _, m := range []string{"GET", "POST", "DELETE"} {
		if r := call(t, m, n.base+"/admin/rebalance", serviceToken(t), map[string]any{"target": 1}); r.Status != 403 {
			t.Errorf("%s with a service token: %d %s", m, r.Status, r.Raw)
		}
	}
}

func rawDial(t *testing.T, n *node, tok string) *websocket.Conn {
	t.Helper()
	ws, err := dialQuiet(n, tok)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// dialQuiet connects and reads "connected"; it is safe off the test's
// goroutine.
func dialQuiet(n *node, tok string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, _, err := d.Dial(n.wsURL(""), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, p, err := ws.ReadMessage(); err != nil {
		ws.Close()
		return nil, fmt.Errorf("waiting for connected: %w", err)
	} else if f := (frame{}); json.Unmarshal(p, &f) != nil || f.Event != "connected" {
		ws.Close()
		return nil, fmt.Errorf("first frame %s, want connected", p)
	}
	return ws, nil
}

// readUntilClose reads until the server closes ws, and returns the
// reason of the "reconnect" event before the close, and the close code.
// It returns an error when stop closes first.
func readUntilClose(ws *websocket.Conn, stop <-chan struct{}) (string, int, error) {
	go func() { <-stop; ws.Close() }()
	reason := ""
	for {
		_ = ws.SetReadDeadline(time.Time{})
		_, p, err := ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			return reason, ce.Code, nil
		}
		if err != nil {
			return "", 0, err
		}
		var f frame
		if json.Unmarshal(p, &f) == nil && f.Event == "reconnect" {
			var d struct{ Reason string }
			_ = json.Unmarshal(f.Data, &d)
			reason = d.Reason
		}
	}
}

// TestRebalanceAsksEachUserOnceAcrossTheFleet runs two nodes on one
// redis-server, both over their targets, as two hot pods are after a
// scale-up. Node A asks its 10 clients to reconnect, and they come back
// to node B, as a balancer may send them to the other hot pod. B's order
// asks none of them again: A claimed each user fleet-wide first.
func TestRebalanceAsksEachUserOnceAcrossTheFleet(t *testing.T) {
	_, nodes := startFleet(t, 2, "drain:\n  reconnectDelayMax: 50ms\n")
	a, b := nodes[0], nodes[1]
	admin := adminToken(t)
	const users = 10
	var mu sync.Mutex
	asks := map[string][]string{} // user -> node/reason/code of each ask
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range users {
		user := fmt.Sprintf("mover-%02d", i)
		ws := rawDial(t, a, userToken(t, user))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, at := range []string{"A", "B"} {
				reason, code, err := readUntilClose(ws, stop)
				if err != nil {
					return // the test ended
				}
				mu.Lock()
				asks[user] = append(asks[user], fmt.Sprintf("%s/%s/%d", at, reason, code))
				mu.Unlock()
				if at == "B" {
					return
				}
				if ws, err = dialQuiet(b, userToken(t, user)); err != nil {
					t.Errorf("%s could not reconnect to B: %v", user, err)
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	order := map[string]any{"target": 0, "perSecond": 50, "durationSeconds": 30}
	mustStatus(t, call(t, "POST", a.base+"/admin/rebalance", admin, order), 200)
	connections := func(n *node) float64 {
		return call(t, "GET", n.base+"/admin/rebalance", admin, nil).Body["connections"].(float64)
	}
	eventually(t, "every client moved to B", func() bool { return connections(a) == 0 && connections(b) == users })
	mustStatus(t, call(t, "POST", b.base+"/admin/rebalance", admin, order), 200)
	time.Sleep(time.Second) // 50 chances for B to ask, at 50/s
	st := call(t, "GET", b.base+"/admin/rebalance", admin, nil)
	t.Logf("B after a second of its order: %s", st.Raw)
	if st.Body["asked"].(float64) != 0 || st.Body["connections"].(float64) != users {
		t.Errorf("B asked users A had asked: %s", st.Raw)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range users {
		user := fmt.Sprintf("mover-%02d", i)
		if got := asks[user]; len(got) != 1 || got[0] != "A/rebalance/1012" {
			t.Errorf("%s was asked %v, want once, by A", user, got)
		}
	}
}
