package sioconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/engineio"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// Config tunes Conns. One Config serves them all: New keeps a pointer
// to it, so it must not change once in use.
type Config struct {
	// ObserveDelivery, when set, is called once a message is written with
	// the time since it was accepted.
	ObserveDelivery func(time.Duration)
	// MaxMessageBytes bounds one client event (see Size), as the native
	// protocol's frame limit does; a larger one closes the connection
	// with 1009. Zero means no bound.
	MaxMessageBytes int
	// Multiplexed says that one Engine.IO session may carry Conns of
	// several namespaces. They share its queue, so each marks the tags it
	// queues with itself, and DropPending hands every Conn its own.
	Multiplexed bool
}

// Conn is the hub.Conn of one Socket.IO socket on the main namespace, and
// the socket's Handler, which hands the session the client's events. A
// server holds one per client, so it is kept small: its handlers are its
// own methods, not closures.
type Conn struct {
	sock *socketio.Socket
	eio  *engineio.Socket
	cfg  *Config
	sess atomic.Pointer[hub.Session]
	// stash holds this Conn's tags that a sibling's DropPending took from
	// the shared queue (see Config.Multiplexed).
	stash  atomic.Pointer[[]any]
	closed atomic.Bool
}

// ownedTag is a tag queued by a Conn of a multiplexed session.
type ownedTag struct {
	owner *Conn
	tag   any
}

var (
	_ hub.Conn         = (*Conn)(nil)
	_ socketio.Handler = (*Conn)(nil)
)

// New returns the Conn of sock. Bind then gives it its session.
func New(sock *socketio.Socket, cfg *Config) *Conn {
	return &Conn{sock: sock, eio: sock.Conn(), cfg: cfg}
}

// Bind makes sess the receiver of the socket's events, of the client's
// acknowledgements and of its disconnection. Call it once hub.Accept has
// returned, on the goroutine that runs the namespace's connection
// handler: the socket reads nothing before that handler returns, so no
// event is missed.
func (c *Conn) Bind(sess *hub.Session) {
	c.sess.Store(sess)
	c.sock.Handle(c)
}

// HandleEvent implements socketio.Handler: it holds the event to the
// frame limit, then hands it to the session.
func (c *Conn) HandleEvent(e *socketio.Event) {
	sess := c.sess.Load()
	if sess == nil {
		return // cannot happen: Bind sets the handler after the session
	}
	if c.cfg.MaxMessageBytes > 0 && Size(e) > c.cfg.MaxMessageBytes {
		c.Close(protocol.CloseMessageTooBig, "message too big")
		return
	}
	f, err := FrameOf(e)
	if err != nil {
		sess.Reject(f, err)
		return
	}
	sess.HandleFrame(f)
}

// HandleDisconnect implements socketio.Handler: the session ends.
func (c *Conn) HandleDisconnect(reason string) {
	if sess := c.sess.Load(); sess != nil {
		sess.End(errors.New(reason))
	}
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
	if o.AckID == "" {
		// Framed (and compressed) once for every session that sends it.
		frame, err := p.Form(frameKey{}, func(b []byte) (any, error) {
			return websocket.NewPreparedMessage(websocket.TextMessage, append([]byte{'4'}, b...))
		})
		if err != nil {
			return fmt.Errorf("while framing a message: %w", err)
		}
		m.Frame = frame.(*websocket.PreparedMessage)
	}
	if o.Tag != nil && c.cfg.Multiplexed {
		m.Tag = &ownedTag{owner: c, tag: o.Tag}
	}
	if o.AckID != "" {
		id, tag := o.AckID, m.Tag
		m.Data = withoutOffset(m.Data, id)
		return sendError(c.sock.SendPacketWithAck(m, func([]any) {
			// The client has it: its ack is a surer word than a pong, and
			// the tag must not go back to the queue if the session ends
			// before the next one.
			c.eio.Confirm(tag)
			c.acknowledge(id)
		}))
	}
	return sendError(c.sock.SendPacket(m))
}

// frameKey stores a message's WebSocket frame in a protocol.Prepared.
type frameKey struct{}

// acknowledge runs when the client acknowledges a message sent with an
// AckID (the Socket.IO client's callback on the event), on the goroutine
// that reads the client.
func (c *Conn) acknowledge(id string) {
	if sess := c.sess.Load(); sess != nil {
		sess.Acknowledge(id)
	}
}

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
//
// The hub calls Close with the session's lock held, and both ways out end
// the hub session (HandleDisconnect), which takes that lock: so they run
// on a goroutine of their own, never on the caller's. That goroutine ends
// with the session, which the hub's Shutdown waits for.
func (c *Conn) Close(code int, reason string) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	if code == protocol.ClosePolicyViolation {
		// As a native connection closed for abuse: a flood does not stop at
		// the close, and reading it until the session ends would cost as
		// much as the flood.
		c.eio.Deafen()
	}
	data, _ := json.Marshal(CloseReason{Code: code, Reason: reason}) // cannot fail
	m := engineio.Message{Data: socketio.EncodeEvent(c.sock.Namespace(), "close_reason", data)}
	if !reconnects[code] {
		_ = c.sock.SendPacket(m)
		go c.sock.Disconnect() // after the event, in order: the session sends nothing more
		return
	}
	m.OnWritten = func() { time.AfterFunc(closeDelay, c.eio.Close) }
	if c.sock.SendPacket(m) != nil {
		go c.eio.Close()
	}
}

// closeDelay separates the last events from the Engine.IO close that
// follows them. socket.io-client handles decoded packets one tick late but
// a transport close at once, so a close read together with the events
// before it would overtake them, and they would be handled only after the
// client had reconnected.
const closeDelay = 200 * time.Millisecond

// Abort implements hub.Conn. A socket still in its namespace is cut with
// its Engine.IO session. One that has left its namespace (the hub tears
// its session down after the departure) does not take the session with
// it: in a multiplexed session the other namespaces go on, and otherwise
// the session closes after what is queued, such as the close_reason and
// DISCONNECT of a server-side disconnect, so that the client reads them.
func (c *Conn) Abort() {
	switch {
	case c.sock.Connected():
		c.eio.Abort()
	case c.cfg.Multiplexed:
	default:
		c.eio.Close()
	}
}

// Closed implements hub.Conn.
func (c *Conn) Closed() bool { return c.eio.Closed() || !c.sock.Connected() }

// DropPending implements hub.Conn. In a multiplexed session it takes the
// whole shared queue, keeps its own tags, and stashes the others' with
// their owners, whose own DropPending returns them first.
func (c *Conn) DropPending() []any {
	all := c.eio.DropPending()
	if !c.cfg.Multiplexed {
		return all
	}
	var mine []any
	if p := c.stash.Swap(nil); p != nil {
		mine = *p
	}
	for _, t := range all {
		ot, ok := t.(*ownedTag)
		switch {
		case !ok:
			// Not queued through a Conn: nobody's to hand back.
		case ot.owner == c:
			mine = append(mine, ot.tag)
		default:
			ot.owner.keep(ot.tag)
		}
	}
	return mine
}

// keep stashes a tag of c's that a sibling took from the shared queue.
func (c *Conn) keep(tag any) {
	for {
		old := c.stash.Load()
		var next []any
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, tag)
		if c.stash.CompareAndSwap(old, &next) {
			return
		}
	}
}

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
