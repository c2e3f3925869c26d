package sioconn

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// Config tunes a Conn. Zero values mean no observer.
type Config struct {
	// ObserveDelivery, when set, is called once a message is written with
	// the time since it was accepted.
	ObserveDelivery func(time.Duration)
}

// Conn is the hub.Conn of one Socket.IO socket on the main namespace.
type Conn struct {
	sock *socketio.Socket
	eio  *engineio.Socket
	cfg  Config

	closeOnce sync.Once
	acked     atomic.Pointer[func(id string)]
}

var _ hub.Conn = (*Conn)(nil)

// New returns the Conn of sock.
func New(sock *socketio.Socket, cfg Config) *Conn {
	return &Conn{sock: sock, eio: sock.Conn(), cfg: cfg}
}

// SendPrepared implements hub.Conn. The frame's bytes are a Socket.IO
// packet (see Codec); the Engine.IO session adds its own framing for
// whichever transport it is on.
//
// The hub's OnWritten (which takes a delivered message out of the user's
// queue) waits until a pong proves the client read the frame, and until
// then the frame's tag stays with the session: a message written to a
// connection that had silently died goes back to the queue instead of
// being lost.
func (c *Conn) SendPrepared(p *protocol.Prepared, o protocol.Outgoing) error {
	m := engineio.Message{Data: p.Bytes(), Tag: o.Tag, OnWritten: c.observe(o), OnDelivered: o.OnWritten}
	if acked := c.acked.Load(); o.AckID != "" && acked != nil {
		id := o.AckID
		m.Data = withoutOffset(m.Data, id)
		return sendError(c.sock.SendPacketWithAck(m, func([]any) { (*acked)(id) }))
	}
	return sendError(c.sock.SendPacket(m))
}

// OnAck sets what runs when the client acknowledges a message sent with
// an AckID: the Socket.IO client's callback on the event. It runs on the
// goroutine that reads the client.
func (c *Conn) OnAck(fn func(id string)) { c.acked.Store(&fn) }

// observe reports the delivery delay once the frame is written.
func (c *Conn) observe(o protocol.Outgoing) func() {
	observe := c.cfg.ObserveDelivery
	if observe == nil || o.Accepted.IsZero() {
		return nil
	}
	return func() { observe(time.Since(o.Accepted)) }
}

// SendText implements hub.Conn.
func (c *Conn) SendText(b []byte) error {
	return sendError(c.sock.SendPacket(engineio.Message{Data: b}))
}

// sendError maps the session's errors onto the ones the hub tells apart.
func sendError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engineio.ErrQueueFull):
		return protocol.ErrQueueFull
	default:
		return protocol.ErrClosed
	}
}

// Ping implements hub.Conn. Engine.IO pings every client itself, with its
// own interval and timeout, and closes the session when a pong is late.
func (c *Conn) Ping() error { return nil }

// LastRead implements hub.Conn. While the Engine.IO session is open its
// own heartbeat vouches for the client, so the hub's heartbeat timeout,
// which is set for native clients, never closes a Socket.IO one.
func (c *Conn) LastRead() time.Time {
	if !c.eio.Closed() {
		return time.Now()
	}
	return c.eio.LastRead()
}

// CloseReason is the data of the "close_reason" event sent before the
// server ends a Socket.IO connection: the close code a native client would
// get, and its text.
type CloseReason struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// reconnects lists the close codes after which a client should come back
// by itself: the node restarts, or the client fell behind. Socket.IO
// clients reconnect after a transport close, but not after the server
// disconnects them from the namespace, so the others end that way.
var reconnects = map[int]bool{
	protocol.CloseServiceRestart:   true,
	protocol.CloseSlowConsumer:     true,
	protocol.CloseHeartbeatTimeout: true,
	protocol.CloseMessageTooBig:    true,
}

// Close implements hub.Conn. It sends "close_reason", then either closes
// the Engine.IO session (the client reconnects) or disconnects the socket
// from the namespace (it does not). What was queued before is sent first.
func (c *Conn) Close(code int, reason string) {
	c.closeOnce.Do(func() {
		data, _ := json.Marshal(CloseReason{Code: code, Reason: reason}) // cannot fail
		m := engineio.Message{Data: socketio.EncodeEvent("/", "close_reason", data)}
		if !reconnects[code] {
			_ = c.sock.SendPacket(m)
			c.sock.Disconnect() // after the event, in order
			return
		}
		m.OnWritten = func() { time.AfterFunc(closeDelay, c.eio.Close) }
		if c.sock.SendPacket(m) != nil {
			c.eio.Close()
		}
	})
}

// closeDelay separates the last events from the Engine.IO close that
// follows them. socket.io-client handles decoded packets one tick late but
// a transport close at once, so a close read together with the events
// before it would overtake them, and they would be handled only after the
// client had reconnected.
const closeDelay = 200 * time.Millisecond

// Abort implements hub.Conn.
func (c *Conn) Abort() { c.eio.Abort() }

// Closed implements hub.Conn.
func (c *Conn) Closed() bool { return c.eio.Closed() || !c.sock.Connected() }

// DropPending implements hub.Conn.
func (c *Conn) DropPending() []any { return c.eio.DropPending() }

// WaitIdle implements hub.Conn.
func (c *Conn) WaitIdle(d time.Duration) bool { return c.eio.WaitIdle(d) }

// FrameOf turns a client event into the hub's frame: the first argument
// is the data, and the ack id the frame's id, so an emit with a callback
// gets the same reply as a native frame with an id.
func FrameOf(e *socketio.Event) (protocol.Frame, error) {
	f := protocol.Frame{Event: e.Name, ID: e.AckID, HasID: e.HasAck}
	if len(e.RawArgs) > 0 {
		f.Data = e.RawArgs[0]
	}
	return checkFrame(f)
}

// Size is the event's size on the wire, near enough to hold it to the
// runtime's frame limit.
func Size(e *socketio.Event) int {
	n := len(e.Name) + 4
	for _, a := range e.RawArgs {
		n += len(a) + 1
	}
	for _, a := range e.Args {
		if b, ok := a.([]byte); ok {
			n += len(b)
		}
	}
	return n
}
