package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/config"
)

// drainWatch follows one client through a drain.
type drainWatch struct {
	user      string
	reconnect *struct{ DelayMs int64 }
	closeCode int
	closedAt  time.Time
	received  map[string]bool // message ids
}

func watchDrain(c *client, user string) *drainWatch {
	w := &drainWatch{user: user, received: map[string]bool{}}
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			w.closedAt = time.Now()
			if ce, ok := err.(*websocket.CloseError); ok {
				w.closeCode = ce.Code
			}
			return w
		}
		var f frame
		_ = json.Unmarshal(p, &f)
		switch f.Event {
		case "reconnect":
			var d struct{ DelayMs int64 }
			_ = json.Unmarshal(f.Data, &d)
			w.reconnect = &d
		case "drain_probe":
			var m appMessage
			_ = json.Unmarshal(f.Data, &m)
			w.received[m.ID] = true
		}
	}
}

// TestPacedDrainOnSIGTERM connects a few hundred clients to a real runtime
// process, sends SIGTERM, and checks what the drain promises: readiness
// turns 503 at once while the API keeps serving, every client gets a
// "reconnect" event and then 1012, the closes are spread over the window
// rather than bunched, and every message the API answered "delivered"
// reached its client before the close.
func TestPacedDrainOnSIGTERM(t *testing.T) {
	const (
		clients = 300
		window  = 3 * time.Second
	)
	p := startProcess(t, "--drain-pre-delay", "1s", "--drain-timeout", window.String())
	var wg sync.WaitGroup
	watches := make([]*drainWatch, clients)
	for i := range clients {
		user := fmt.Sprintf("d%d", i)
		c := dial(t, p.node, userToken(t, user))
		wg.Add(1)
		go func() {
			defer wg.Done()
			watches[i] = watchDrain(c, user)
		}()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "readiness to turn 503", func() bool {
		return call(t, "GET", p.node.base+"/health/ready", "", nil).Status == 503
	})
	if r := call(t, "GET", p.node.base+"/health/live", "", nil); r.Status != 200 {
		t.Fatalf("liveness during drain: %d", r.Status)
	}
	expectRefused(t, p.node, "", map[string][]string{"Authorization": {"Bearer " + userToken(t, "late")}}, 503, "shutting_down")

	// Send to every user until the API stops answering, and remember
	// which messages were reported delivered.
	delivered := map[string]string{} // message id -> user
	svc := serviceToken(t)
	for round := 0; round < 20; round++ {
		stopped := false
		for i := 0; i < clients; i += 7 {
			user := fmt.Sprintf("d%d", (i+round)%clients)
			r, err := tryCall(p.node.base+"/ws/send/"+user, svc, map[string]any{"type": "drain_probe", "payload": round})
			if err != nil {
				stopped = true
				break
			}
			if r.Status == 200 && r.Body["status"] == "delivered" {
				delivered[r.Body["messageId"].(string)] = user
			}
		}
		if stopped {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(wait + window):
		t.Fatal("runtime did not exit")
	}

	byUser := map[string]*drainWatch{}
	var closes []time.Time
	for _, w := range watches {
		byUser[w.user] = w
		if w.closeCode != 1012 {
			t.Fatalf("%s closed with %d, want 1012", w.user, w.closeCode)
		}
		if w.reconnect == nil || w.reconnect.DelayMs < 0 || w.reconnect.DelayMs > 5000 {
			t.Fatalf("%s reconnect event %+v", w.user, w.reconnect)
		}
		closes = append(closes, w.closedAt)
	}
	slices.SortFunc(closes, func(a, b time.Time) int { return a.Compare(b) })
	span := closes[len(closes)-1].Sub(closes[0])
	if span < window*4/10 {
		t.Fatalf("closes spread over %s, want most of the %s window", span, window)
	}
	// No tenth of the span holds more than a third of the closes.
	slot := span / 10
	for i := range closes {
		n := 0
		for j := i; j < len(closes) && closes[j].Sub(closes[i]) < slot; j++ {
			n++
		}
		if n > clients/3 {
			t.Fatalf("%d of %d closes within %s: a thundering herd", n, clients, slot)
		}
	}
	lost := 0
	for id, user := range delivered {
		if !byUser[user].received[id] {
			lost++
		}
	}
	t.Logf("closes spread over %s; %d messages reported delivered during the drain, %d lost", span, len(delivered), lost)
	if len(delivered) == 0 {
		t.Fatal("no message was delivered during the drain, so loss was not tested")
	}
	if lost > 0 {
		t.Fatalf("%d messages answered \"delivered\" never reached their client", lost)
	}
}

func TestReadinessFollowsDrainAndFullNode(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxConnections = 1 })
	if r := call(t, "GET", n.base+"/health/ready", "", nil); r.Status != 200 {
		t.Fatalf("ready: %d %s", r.Status, r.Raw)
	}
	dial(t, n, userToken(t, "only"))
	r := call(t, "GET", n.base+"/health/ready", "", nil)
	if r.Status != 503 || fmt.Sprint(r.Body["reasons"]) != "[at_max_connections]" {
		t.Fatalf("full node: %d %s", r.Status, r.Raw)
	}
	d := call(t, "GET", n.base+"/health/detailed", "", nil)
	mustStatus(t, d, 200)
	if d.Body["connections"].(float64) != 1 || d.Body["broker"].(map[string]any)["status"] != "up" || d.Body["goroutines"].(float64) <= 0 {
		t.Fatalf("detailed: %s", d.Raw)
	}
	if _, ok := d.Body["queue"].(map[string]any)["waiting"]; !ok {
		t.Fatalf("detailed lacks queue stats: %s", d.Raw)
	}
	if r := call(t, "GET", n.base+"/health/live", "", nil); r.Status != 200 || r.Body["alive"] != true {
		t.Fatalf("live: %s", r.Raw)
	}
}
