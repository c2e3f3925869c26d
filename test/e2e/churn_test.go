package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// churnLedger records what the API accepted and what clients received.
type churnLedger struct {
	mu       sync.Mutex
	accepted map[string]string // message id -> user
	received map[string]int    // message id -> times received
}

func (l *churnLedger) accept(id, user string) {
	l.mu.Lock()
	l.accepted[id] = user
	l.mu.Unlock()
}

func (l *churnLedger) receive(id string) {
	l.mu.Lock()
	l.received[id]++
	l.mu.Unlock()
}

// churnClient connects user to node with acks=1, acknowledges every
// message it reads, and records them, until stop closes or the connection
// ends.
func churnClient(t *testing.T, n *node, user string, ledger *churnLedger, stop <-chan struct{}) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(n.wsURL("acks=1"), http.Header{"Authorization": {"Bearer " + userToken(t, user)}})
	if err != nil {
		return err
	}
	defer ws.Close()
	go func() {
		<-stop
		_ = ws.Close()
	}()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := ws.ReadMessage()
		if err != nil {
			return nil
		}
		var f frame
		if json.Unmarshal(p, &f) != nil || f.Event != "churn" {
			continue
		}
		var m appMessage
		_ = json.Unmarshal(f.Data, &m)
		ledger.receive(m.ID)
		ack, _ := json.Marshal(map[string]any{"event": "ack_messages", "data": map[string]any{"ids": []string{m.ID}}})
		if ws.WriteMessage(websocket.TextMessage, ack) != nil {
			return nil
		}
	}
}

// TestNoLossUnderChurn runs three nodes on one Redis. Several hundred users
// connect and disconnect at random while messages are sent to them through
// every node, and one node is killed with SIGKILL midway. At the end every
// message the API accepted must have been received at least once.
func TestNoLossUnderChurn(t *testing.T) {
	const (
		users    = 300
		duration = 6 * time.Second
		maxSends = 4000
	)
	srv := redistestStart(t)
	cfg := writeConfig(t, "rateLimit:\n  connectionsPerIP: {limit: 0}\n  max: 0\n")
	var procs []*proc
	for range 3 {
		procs = append(procs, startProcessEnv(t, []string{"REDIS_URL=" + srv.URL(), "MAX_CONNECTIONS=5000"}, "--config", cfg))
	}
	var killed atomic.Bool // procs[2] is killed midway
	liveNode := func(r *rand.Rand) *node {
		if killed.Load() {
			return procs[r.IntN(2)].node
		}
		return procs[r.IntN(3)].node
	}
	ledger := &churnLedger{accepted: map[string]string{}, received: map[string]int{}}
	deadline := time.Now().Add(duration)

	// Users: connect, stay a little, leave, again, until the deadline.
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(u), 1))
			user := fmt.Sprintf("churn%d", u)
			for time.Now().Before(deadline) {
				stop := make(chan struct{})
				stay := time.Duration(100+r.IntN(400)) * time.Millisecond
				go func() {
					time.Sleep(stay)
					close(stop)
				}()
				_ = churnClient(t, liveNode(r), user, ledger, stop)
				time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
			}
		}()
	}

	// Sender: messages to random users through random nodes.
	sendDone := make(chan int)
	go func() {
		r := rand.New(rand.NewPCG(99, 1))
		tok := serviceToken(t)
		sent := 0
		for sent < maxSends && time.Now().Before(deadline) {
			user := fmt.Sprintf("churn%d", r.IntN(users))
			res, err := tryCall(liveNode(r).base+"/ws/send/"+user, tok, map[string]any{"type": "churn", "payload": sent})
			if err == nil && res.Status == 200 {
				ledger.accept(res.Body["messageId"].(string), user)
			}
			sent++
			time.Sleep(time.Millisecond)
		}
		sendDone <- sent
	}()

	time.Sleep(duration / 2)
	killed.Store(true)
	if err := procs[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	attempts := <-sendDone
	wg.Wait()

	// Every user connects once more and reads until nothing new comes.
	ledger.mu.Lock()
	pending := map[string]bool{}
	for _, u := range ledger.accepted {
		pending[u] = true
	}
	ledger.mu.Unlock()
	r := rand.New(rand.NewPCG(7, 7))
	var final sync.WaitGroup
	sem := make(chan struct{}, 50)
	for user := range pending {
		final.Add(1)
		sem <- struct{}{}
		go func(n *node) {
			defer final.Done()
			defer func() { <-sem }()
			stop := make(chan struct{})
			time.AfterFunc(2*time.Second, func() { close(stop) })
			_ = churnClient(t, n, user, ledger, stop)
		}(liveNode(r))
	}
	final.Wait()

	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	lost, dups, received := 0, 0, 0
	for id := range ledger.accepted {
		switch c := ledger.received[id]; {
		case c == 0:
			lost++
		case c > 1:
			dups += c - 1
			received++
		default:
			received++
		}
	}
	t.Logf("sends attempted %d, accepted %d, received %d, duplicates %d, lost %d",
		attempts, len(ledger.accepted), received, dups, lost)
	if len(ledger.accepted) == 0 {
		t.Fatal("nothing was accepted")
	}
	if lost != 0 {
		t.Fatalf("%d accepted messages were never received", lost)
	}
}
