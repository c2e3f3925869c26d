package hub

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// fakeConn is a Conn that records what the hub sends. Frames are
// "written" at once unless hold is set; held frames stay pending, so
// DropPending can return their tags as a real transport would.
type fakeConn struct {
	mu       sync.Mutex
	frames   []json.RawMessage
	pending  []any
	hold     bool // keep tagged frames pending instead of writing them
	full     bool // refuse sends with protocol.ErrQueueFull
	closed   bool
	code     int
	pings    int
	lastRead time.Time
	onClose  func() // runs after Close, like a transport ending its session
	changed  chan struct{}
}

var (
	_ Conn        = (*fakeConn)(nil)
	_ Heartbeater = (*fakeConn)(nil)
)

func newFakeConn() *fakeConn {
	return &fakeConn{lastRead: time.Now(), changed: make(chan struct{}, 1)}
}

func (c *fakeConn) record(b []byte) {
	c.frames = append(c.frames, append(json.RawMessage(nil), b...))
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *fakeConn) SendPrepared(p *protocol.Prepared, o protocol.Outgoing) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed || c.code != 0:
		return protocol.ErrClosed
	case c.full:
		return protocol.ErrQueueFull
	case c.hold && o.Tag != nil:
		c.pending = append(c.pending, o.Tag)
		return nil
	}
	c.record(p.Bytes())
	if o.OnWritten != nil {
		o.OnWritten()
	}
	return nil
}

func (c *fakeConn) SendText(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.code != 0 {
		return protocol.ErrClosed
	}
	if c.full {
		return protocol.ErrQueueFull
	}
	c.record(b)
	return nil
}

func (c *fakeConn) Ping() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pings++
	return nil
}

func (c *fakeConn) LastRead() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastRead
}

func (c *fakeConn) Close(code int, _ string) {
	c.mu.Lock()
	if c.code != 0 {
		c.mu.Unlock()
		return
	}
	c.code = code
	onClose := c.onClose
	c.mu.Unlock()
	if onClose != nil {
		go onClose()
	}
}

func (c *fakeConn) Abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

func (c *fakeConn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *fakeConn) DropPending() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	tags := c.pending
	c.pending = nil
	return tags
}

func (c *fakeConn) WaitIdle(time.Duration) bool { return true }

func (c *fakeConn) closeCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// event is a decoded native frame.
type event struct {
	Event string          `json:"event"`
	ID    *uint64         `json:"id"`
	Data  json.RawMessage `json:"data"`
}

// events decodes every frame sent so far.
func (c *fakeConn) events(t *testing.T) []event {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]event, len(c.frames))
	for i, f := range c.frames {
		if err := json.Unmarshal(f, &out[i]); err != nil {
			t.Fatalf("frame %d is not a native frame: %s", i, f)
		}
	}
	return out
}

// waitFor waits until the frames satisfy ok, and fails the test after a
// generous bound.
func (c *fakeConn) waitFor(t *testing.T, what string, ok func([]event) bool) []event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		evs := c.events(t)
		if ok(evs) {
			return evs
		}
		select {
		case <-c.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; frames: %+v", what, evs)
		}
	}
}
