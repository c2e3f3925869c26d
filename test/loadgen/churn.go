package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Churn: every connection lives a random while (--lifetime, ±50 %), says
// goodbye, stays away a moment (up to --offline) and comes back, over and
// over for --duration, while messages go to the users at --rate a second
// through POST /ws/send/:userId. Each connection asks for acks=1 and
// acknowledges every message it reads, as a client that must not lose
// one does. At the end every user connects once more and stays for
// --drain, to be given what waited in its queue.
//
// Counted: messages sent, accepted (200), refused, delivered (distinct
// ids), read twice (before deduplication), and lost: accepted but never
// read. A connection leaves with a close frame and reads until the
// server's own, so what the server wrote before it is read; a client
// that cuts its socket instead can lose what was on the wire, and the
// network-drop fault tests measure that case.

// churnResult is the JSON line a churn run prints.
type churnResult struct {
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Reconnects  int64   `json:"reconnects"`
	DialErrors  int64   `json:"dialErrors"`
	Sent        int64   `json:"sent"`
	Accepted    int64   `json:"accepted"`
	Refused     int64   `json:"refused"`
	Delivered   int64   `json:"delivered"`
	Duplicates  int64   `json:"duplicates"`
	Lost        int64   `json:"lost"`
}

// churnLedger keeps, for each accepted message id, how many times it was
// read.
type churnLedger struct {
	mu       sync.Mutex
	accepted map[string]int // id -> times read
	early    map[string]int // read before the send's answer named it
}

func (l *churnLedger) accept(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted[id] += l.early[id]
	delete(l.early, id)
}

func (l *churnLedger) read(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.accepted[id]; ok {
		l.accepted[id]++
	} else {
		l.early[id]++
	}
}

func churn(ctx context.Context, o options, tokens []string) (churnResult, error) {
	var res churnResult
	if o.rate <= 0 {
		return res, errors.New("--mode churn needs --rate (messages a second to the users)")
	}
	send, err := sender(o)
	if err != nil {
		return res, err
	}
	ledger := &churnLedger{accepted: map[string]int{}, early: map[string]int{}}
	var reconnects, dialErrors atomic.Int64
	runCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	end := time.Now().Add(o.duration)

	var wg sync.WaitGroup
	var lastErr atomic.Value
	for i := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := churnDialer(o, i)
			for first := true; runCtx.Err() == nil && time.Now().Before(end); first = false {
				c, err := dialChurn(runCtx, o, d, tokens[i%len(tokens)])
				if err != nil {
					if runCtx.Err() == nil {
						dialErrors.Add(1)
						lastErr.Store(err.Error())
						sleepCtx(runCtx, 100*time.Millisecond)
					}
					continue
				}
				if !first {
					reconnects.Add(1)
				}
				life := time.Duration(float64(o.lifetime) * (0.5 + rand.Float64()))
				readChurn(c, o.socketIO, ledger, time.Now().Add(min(life, time.Until(end))))
				sleepCtx(runCtx, time.Duration(rand.Int64N(int64(o.offline)+1)))
			}
		}()
	}

	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / float64(o.rate)))
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		<-tick.C
		res.Sent++
		id, err := send(ctx, fmt.Sprintf("%s%d", o.userPrefix, n%o.users), n)
		if err != nil {
			res.Refused++
			continue
		}
		res.Accepted++
		ledger.accept(id)
		if n%max(o.rate, 1) == 0 {
			fmt.Printf("  %s: %d sent, %d reconnects\n", time.Since(start).Round(time.Second), res.Sent, reconnects.Load())
		}
	}
	tick.Stop()
	wg.Wait()

	// Everyone comes back once more, for what waited in the queues.
	var final sync.WaitGroup
	for i := range o.users {
		final.Add(1)
		go func() {
			defer final.Done()
			c, err := dialChurn(ctx, o, churnDialer(o, i), tokens[i])
			if err != nil {
				dialErrors.Add(1)
				lastErr.Store(err.Error())
				return
			}
			readChurn(c, o.socketIO, ledger, time.Now().Add(o.drain))
		}()
	}
	final.Wait()

	res.Connections, res.Seconds = o.conns, o.duration.Seconds()
	res.Reconnects, res.DialErrors = reconnects.Load(), dialErrors.Load()
	ledger.mu.Lock()
	for _, reads := range ledger.accepted {
		switch {
		case reads == 0:
			res.Lost++
		default:
			res.Delivered++
			res.Duplicates += int64(reads - 1)
		}
	}
	ledger.mu.Unlock()
	fmt.Printf("churn: %d connections for %s, %d reconnects, %d dial errors; %d messages sent, %d accepted, %d refused; %d delivered, %d read twice, %d lost\n",
		res.Connections, o.duration, res.Reconnects, res.DialErrors, res.Sent, res.Accepted, res.Refused, res.Delivered, res.Duplicates, res.Lost)
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if e, ok := lastErr.Load().(string); ok {
		fmt.Println("last dial error:", e)
	}
	if res.Lost > 0 {
		return res, fmt.Errorf("%d accepted messages were never read", res.Lost)
	}
	return res, nil
}

// churnDialer spreads connection i over the loopback source addresses.
func churnDialer(o options, i int) websocket.Dialer {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	if o.sources > 0 {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%o.sources))}
		d.NetDialContext = (&net.Dialer{LocalAddr: src}).DialContext
	}
	return d
}

// dialChurn connects with acks=1 and returns once the server has taken
// the connection: the native "connected" event, or Socket.IO's CONNECT.
// It subscribes to nothing: what the user's queue holds follows.
func dialChurn(ctx context.Context, o options, d websocket.Dialer, token string) (*websocket.Conn, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("acks", "1")
	header := http.Header{"Authorization": {"Bearer " + token}}
	steps := []struct{ send, expect string }{{"", `{"event":"connected"`}}
	if o.socketIO {
		q.Set("EIO", "4")
		q.Set("transport", "websocket")
		auth, _ := json.Marshal(map[string]string{"token": token})
		header = nil
		steps = []struct{ send, expect string }{{"", "0{"}, {"40" + string(auth), "40{"}}
	}
	u.RawQuery = q.Encode()
	c, resp, err := d.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, s := range steps {
		if s.send != "" {
			if err := c.WriteMessage(websocket.TextMessage, []byte(s.send)); err != nil {
				c.Close()
				return nil, err
			}
		}
		if _, p, err := c.ReadMessage(); err != nil || !bytes.HasPrefix(p, []byte(s.expect)) {
			c.Close()
			return nil, fmt.Errorf("expected %s, got %q: %v", s.expect, p, err)
		}
	}
	return c, nil
}

// readChurn reads c, noting and acknowledging every "churn" message,
// until leave; then it closes it politely: a close frame, and reading on
// until the server's close comes back, so that whatever the server wrote
// before it is read. A server that does not answer within 5s is cut.
func readChurn(c *websocket.Conn, socketIO bool, ledger *churnLedger, leave time.Time) {
	defer c.Close()
	bye := time.AfterFunc(time.Until(leave), func() {
		// WriteControl may be called alongside the reader's writes.
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	})
	defer bye.Stop()
	_ = c.SetReadDeadline(leave.Add(5 * time.Second))
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		id, ack, ok := churnMessage(p, socketIO)
		switch {
		case ok:
			ledger.read(id)
			if ack != nil {
				_ = c.WriteMessage(websocket.TextMessage, ack) // refused once the close is sent: it comes again
			}
		case socketIO && string(p) == "2":
			_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
		}
	}
}

// churnMessage returns the id of a "churn" message, and the frame that
// acknowledges it: ack_messages on the native protocol, and on Socket.IO
// the acknowledgement the packet asks for (with acks=1 each message to a
// user carries an ack id, "42<n>[...]", answered by "43<n>[]").
func churnMessage(p []byte, socketIO bool) (id string, ack []byte, ok bool) {
	var data []byte
	if socketIO {
		rest, found := bytes.CutPrefix(p, []byte("42"))
		if !found {
			return "", nil, false
		}
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		ackID, body := rest[:n], rest[n:]
		if !bytes.HasPrefix(body, []byte(`["churn",`)) {
			return "", nil, false
		}
		var frame []json.RawMessage
		if json.Unmarshal(body, &frame) != nil || len(frame) < 2 {
			return "", nil, false
		}
		data = frame[1]
		if n > 0 {
			ack = append(append([]byte("43"), ackID...), "[]"...)
		}
	} else {
		if !bytes.HasPrefix(p, []byte(`{"event":"churn"`)) {
			return "", nil, false
		}
		var f struct{ Data json.RawMessage }
		if json.Unmarshal(p, &f) != nil {
			return "", nil, false
		}
		data = f.Data
	}
	var m struct{ ID string }
	if json.Unmarshal(data, &m) != nil || m.ID == "" {
		return "", nil, false
	}
	if !socketIO {
		ack = fmt.Appendf(nil, `{"event":"ack_messages","data":{"ids":[%q]}}`, m.ID)
	}
	return m.ID, ack, true
}

// sender returns a function that sends one "churn" message to a user
// through the runtime's API with a service token, and returns its id.
func sender(o options) (func(ctx context.Context, user string, seq int) (string, error), error) {
	post, err := serviceAPI(o)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, user string, seq int) (string, error) {
		id, err := post(ctx, "/ws/send/"+url.PathEscape(user), fmt.Appendf(nil, `{"type":"churn","payload":{"seq":%d}}`, seq))
		if err == nil && id == "" {
			err = errors.New("send: no messageId in the answer")
		}
		return id, err
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
