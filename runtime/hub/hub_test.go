package hub

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
	"github.com/fleetwire/fleetwire/runtime/schedule"
)

func newTestHub(t *testing.T, cfg Config) *Hub {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h
}

func claimsFor(user string) *auth.Claims {
	c := &auth.Claims{}
	c.Subject = user
	return c
}

// accept opens a session for user over a fake connection whose close ends
// the session, as a transport would.
func accept(t *testing.T, h *Hub, user string) (*Session, *fakeConn) {
	t.Helper()
	c := newFakeConn()
	var s *Session
	ended := make(chan struct{})
	c.onClose = func() { <-ended; s.End(nil) }
	s, err := h.Accept(c, protocol.JSON{}, claimsFor(user), Meta{ConnID: user + "-conn"})
	close(ended)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func payload(v string) json.RawMessage { b, _ := json.Marshal(map[string]string{"v": v}); return b }

func TestAcceptSendsConnectedThenTheQueueInOrder(t *testing.T) {
	h := newTestHub(t, Config{})
	ctx := context.Background()
	for _, v := range []string{"first", "second"} {
		d, err := h.SendToUser(ctx, "alice", message.New("notification", payload(v), message.PriorityNormal))
		if err != nil || d.Status != StatusQueued {
			t.Fatalf("send %s: %+v %v", v, d, err)
		}
	}
	_, c := accept(t, h, "alice")
	evs := c.events(t)
	if len(evs) != 3 || evs[0].Event != "connected" {
		t.Fatalf("want connected then 2 queued messages, got %+v", evs)
	}
	for i, v := range []string{"first", "second"} {
		var m message.Message
		if err := json.Unmarshal(evs[i+1].Data, &m); err != nil {
			t.Fatal(err)
		}
		if evs[i+1].Event != "notification" || !m.Queued || string(m.Payload) != string(payload(v)) {
			t.Errorf("message %d: got %s %s", i, evs[i+1].Event, evs[i+1].Data)
		}
	}
	d, err := h.SendToUser(ctx, "alice", message.New("notification", payload("live"), message.PriorityNormal))
	if err != nil || d.Status != StatusDelivered {
		t.Fatalf("live send: %+v %v", d, err)
	}
	c.waitFor(t, "the live message", func(e []event) bool { return len(e) == 4 })
}

func TestFramesDispatchThroughTheEventTable(t *testing.T) {
	h := newTestHub(t, Config{})
	s, c := accept(t, h, "bob")
	s.Receive([]byte(`{"event":"subscribe","id":7,"data":{"channels":["news:1"]}}`))
	s.Receive([]byte(`{"event":"nope","id":8}`))
	s.Receive([]byte(`not json`))
	s.HandleFrame(Frame{Event: "ping", ID: 9, HasID: true})
	evs := c.waitFor(t, "four replies", func(e []event) bool { return len(e) == 5 })
	var sub ChannelsReply
	if err := json.Unmarshal(evs[1].Data, &sub); err != nil || evs[1].Event != "ack" || *evs[1].ID != 7 ||
		len(sub.Results) != 1 || !sub.Results[0].OK {
		t.Fatalf("subscribe reply: %+v (%s)", evs[1], evs[1].Data)
	}
	wantErr := func(e event, id uint64, code protocol.Code) {
		t.Helper()
		var pe protocol.Error
		_ = json.Unmarshal(e.Data, &pe)
		if e.Event != "error" || pe.Code != code || (id != 0 && (e.ID == nil || *e.ID != id)) {
			t.Errorf("want error %s for id %d, got %+v (%s)", code, id, e, e.Data)
		}
	}
	wantErr(evs[2], 8, protocol.CodeUnknownEvent)
	wantErr(evs[3], 0, protocol.CodeBadFrame)
	if evs[4].Event != "ack" || *evs[4].ID != 9 {
		t.Errorf("ping reply: %+v", evs[4])
	}
	if _, err := h.Publish(context.Background(), "news:1", message.New("headline", payload("x"), message.PriorityNormal)); err != nil {
		t.Fatal(err)
	}
	evs = c.waitFor(t, "the channel message", func(e []event) bool { return len(e) == 6 })
	if evs[5].Event != "headline" {
		t.Errorf("got %+v", evs[5])
	}
}

func TestRateLimitedEventsGetTheErrorAndAbuseCloses(t *testing.T) {
	rates := &ratelimit.Policy{Messages: ratelimit.Rule{Limit: 2, Window: time.Minute}, AbuseBlocked: 2, AbuseWindow: time.Minute}
	h := newTestHub(t, Config{Rates: rates})
	s, c := accept(t, h, "carol")
	for i := range 4 {
		s.HandleFrame(Frame{Event: "ping", ID: uint64(i + 1), HasID: true})
	}
	evs := c.events(t)
	var pe protocol.Error
	if err := json.Unmarshal(evs[3].Data, &pe); err != nil || evs[3].Event != "error" || pe.Code != protocol.CodeRateLimited || pe.RetryAfterMs <= 0 {
		t.Fatalf("third ping: %+v (%s)", evs[3], evs[3].Data)
	}
	if got := c.closeCode(); got != protocol.ClosePolicyViolation {
		t.Errorf("close code after 2 blocked events = %d, want %d", got, protocol.ClosePolicyViolation)
	}
}

func TestSlowConsumerGoesBackToTheQueue(t *testing.T) {
	h := newTestHub(t, Config{})
	_, c := accept(t, h, "dave")
	c.mu.Lock()
	c.hold = true
	c.mu.Unlock()
	ctx := context.Background()
	var sent []string
	for i := range 3 {
		m := message.New("notification", payload("m"), message.PriorityNormal)
		sent = append(sent, m.ID)
		if _, err := h.SendToUser(ctx, "dave", m); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			c.mu.Lock()
			c.full = true // the third overflows the connection
			c.mu.Unlock()
		}
	}
	if got := c.closeCode(); got != protocol.CloseSlowConsumer {
		t.Fatalf("close code = %d, want %d", got, protocol.CloseSlowConsumer)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, n, err := h.Queue().Peek(ctx, "dave", 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			for i, m := range msgs {
				if m.ID != sent[i] {
					t.Errorf("queue[%d] = %s, want %s (order kept)", i, m.ID, sent[i])
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d messages, want all 3 back", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainSendsReconnectThenCloses(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, c := accept(t, h, "erin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Drain(ctx, DrainConfig{ReconnectDelayMax: time.Second}); err != nil {
		t.Fatalf("drain: %v", err)
	}
	evs := c.events(t)
	if last := evs[len(evs)-1]; last.Event != "reconnect" {
		t.Errorf("last frame %+v, want reconnect", last)
	}
	if c.closeCode() != protocol.CloseServiceRestart {
		t.Errorf("close code %d", c.closeCode())
	}
	if h.Connections() != 0 {
		t.Errorf("%d connections left", h.Connections())
	}
	if _, err := h.Accept(newFakeConn(), protocol.JSON{}, claimsFor("late"), Meta{}); err != ErrClosing {
		t.Errorf("accept after drain: %v", err)
	}
}

// blockingForwarder answers only when its context ends.
type blockingForwarder struct{ cancelled chan error }

func (blockingForwarder) TryAcquire() bool { return true }
func (blockingForwarder) Release()         {}
func (f blockingForwarder) Forward(ctx context.Context, _ rpcproxy.Call, _ string) (json.RawMessage, *protocol.Error) {
	<-ctx.Done()
	f.cancelled <- ctx.Err()
	return nil, protocol.Errorf(protocol.CodeInternal, "cancelled")
}

func TestShutdownCancelsAndWaitsForSpawnedWork(t *testing.T) {
	fw := blockingForwarder{cancelled: make(chan error, 1)}
	h, err := New(Config{Forwarder: fw, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := accept(t, h, "frank")
	s.HandleFrame(Frame{Event: "custom.call", ID: 1, HasID: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-fw.cancelled:
		if err == nil {
			t.Error("forward context not cancelled")
		}
	default:
		t.Fatal("Shutdown returned before the forwarded call ended")
	}
	if h.spawn(func(context.Context) {}) {
		t.Error("spawn after Shutdown started a goroutine")
	}
}

// ownBeat is a connection with a heartbeat of its own: it hides the fake
// connection's Ping and LastRead from the hub.
type ownBeat struct{ Conn }

func TestHeartbeatOnlyForConnectionsThatTakeIt(t *testing.T) {
	sched := schedule.New()
	t.Cleanup(sched.Close)
	h := newTestHub(t, Config{Scheduler: sched, HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 40 * time.Millisecond})
	stale := time.Now().Add(-time.Hour)

	own := newFakeConn()
	own.lastRead = stale
	before := sched.Len()
	if _, err := h.Accept(ownBeat{own}, protocol.JSON{}, claimsFor("own"), Meta{ConnID: "own-conn"}); err != nil {
		t.Fatal(err)
	}
	if n := sched.Len(); n != before {
		t.Fatalf("scheduler entries went from %d to %d for a connection with its own heartbeat", before, n)
	}

	_, beaten := accept(t, h, "beaten")
	beaten.mu.Lock()
	beaten.lastRead = stale
	beaten.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for beaten.closeCode() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if code := beaten.closeCode(); code != protocol.CloseHeartbeatTimeout {
		t.Fatalf("silent connection closed with %d, want %d", code, protocol.CloseHeartbeatTimeout)
	}
	own.mu.Lock()
	defer own.mu.Unlock()
	if own.code != 0 || own.pings != 0 {
		t.Fatalf("connection with its own heartbeat: close code %d, %d pings; want neither", own.code, own.pings)
	}
}
