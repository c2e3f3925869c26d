package socketio

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

// Disconnect reasons given to Socket.OnDisconnect handlers besides the
// Engine.IO close reasons ("transport close", "ping timeout", ...), which
// pass through unchanged.
const (
	ReasonClientDisconnect = "client namespace disconnect"
	ReasonServerDisconnect = "server namespace disconnect"
	ReasonParseError       = "parse error"
)

// conn is the Socket.IO side of one Engine.IO session: the packet decoder
// state and the sockets of the namespaces the client joined through it.
type conn struct {
	srv *Server
	eio *engineio.Socket

	// Decoder state: a binary packet waiting for its attachments. Only the
	// engine's HandleMessage touches it, and the engine runs that
	// handler one call at a time.
	pending *partialPacket

	// sendMu keeps a packet's text and its binary attachments adjacent in
	// the engine's queue, and orders sends against a socket's state change
	// (nothing is sent for a namespace after its DISCONNECT). Lock order:
	// sendMu, then Socket.mu.
	sendMu sync.Mutex

	mu sync.Mutex
	// sockets holds one Socket per namespace joined. A slice, searched
	// by name: a client joins few namespaces, usually one, and a map would
	// cost every session far more.
	sockets     []*Socket
	closeReason string // overrides the engine's reason when set
	closed      bool
	// idleTimer closes the session when it has been in no namespace for
	// ConnectTimeout; idleGen tells a stale timer's callback from the
	// current one's.
	idleTimer *time.Timer
	idleGen   uint64
}

// partialPacket is a binary packet and the attachments read so far.
type partialPacket struct {
	Packet
	event *event
	bufs  [][]byte
	bytes int
}

// debug logs at V(1) with the session's id. It is not kept as a logger
// with that value: an idle session would then hold a logger of its own.
func (c *conn) debug(msg string, kv ...any) {
	c.srv.log.V(1).Info(msg, append(kv, "eio", c.eio.ID())...)
}

var _ engineio.Handler = (*conn)(nil)

// HandleMessage implements engineio.Handler.
func (c *conn) HandleMessage(data []byte, binary bool) {
	if err := c.handleMessage(data, binary); err != nil {
		c.debug("closing session on a bad packet", "error", err.Error())
		c.setCloseReason(ReasonParseError)
		c.eio.Reject()
	}
}

func (c *conn) handleMessage(data []byte, binary bool) error {
	if binary {
		return c.addAttachment(data)
	}
	if c.pending != nil {
		return fmt.Errorf("%w: text message while %d attachments are missing",
			ErrInvalidPacket, c.pending.Attachments-len(c.pending.bufs))
	}
	p, ev, err := decodePacket(data)
	if err != nil {
		return err
	}
	if p.Attachments > 0 {
		c.pending = &partialPacket{Packet: p, event: ev}
		return nil
	}
	return c.dispatch(p, ev, nil)
}

// addAttachment collects one binary message of the pending packet and
// dispatches the packet once all have come.
func (c *conn) addAttachment(data []byte) error {
	if c.pending == nil {
		return fmt.Errorf("%w: binary message outside a binary packet", ErrInvalidPacket)
	}
	// One packet's attachments may add up to what the client may send in one
	// message: without a bound a client could make the server buffer up to
	// maxAttachments full-size messages.
	pp := c.pending
	pp.bytes += len(data)
	if pp.bytes > c.srv.maxAttachmentBytes {
		return fmt.Errorf("%w: attachments exceed %d bytes", ErrInvalidPacket, c.srv.maxAttachmentBytes)
	}
	pp.bufs = append(pp.bufs, data)
	if len(pp.bufs) < pp.Attachments {
		return nil
	}
	c.pending = nil
	return c.dispatch(pp.Packet, pp.event, pp.bufs)
}

// dispatch acts on one complete packet; ev is an event's split payload.
func (c *conn) dispatch(p Packet, ev *event, bufs [][]byte) error {
	if p.Type == PacketConnect {
		c.connect(p.Namespace, p.Data)
		return nil
	}
	s := c.socket(p.Namespace)
	if s == nil {
		// As the reference server does: a packet for a namespace the client
		// has not joined (or just left) is dropped, not an error.
		c.debug("packet for a namespace not joined", "nsp", p.Namespace, "type", p.Type.String())
		return nil
	}
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		return s.onEvent(p, ev, bufs)
	case PacketAck, PacketBinaryAck:
		return s.onAck(p, bufs)
	case PacketDisconnect:
		c.remove(s)
		s.finish(ReasonClientDisconnect)
	}
	return nil // CONNECT_ERROR goes server to client only
}

// connect answers a CONNECT: a CONNECT_ERROR for an unknown namespace or a
// refusing middleware, else a new Socket and the CONNECT reply.
func (c *conn) connect(name string, auth json.RawMessage) {
	nsp := c.srv.lookup(name)
	if nsp == nil {
		c.sendConnectError(name, &ConnectError{Message: "Invalid namespace"})
		return
	}
	if c.socket(name) != nil {
		c.debug("CONNECT for a namespace already joined", "nsp", name)
		return
	}
	s := &Socket{id: newSocketID(), nsp: nsp, conn: c}
	if err := nsp.admit(s, auth); err != nil {
		c.sendConnectError(name, err)
		return
	}
	reply := Packet{Type: PacketConnect, Namespace: name, Data: nsp.connectReply(s)}
	c.sendMu.Lock()
	s.mu.Lock()
	joined := s.state == socketConnecting // not disconnected by a middleware
	if joined {
		s.state = socketConnected
	}
	s.mu.Unlock()
	var err error
	if joined {
		c.mu.Lock()
		c.sockets = append(c.sockets, s)
		c.disarmIdleTimerLocked()
		c.mu.Unlock()
		err = c.eio.Send(engineio.Message{Data: reply.Encode()})
	}
	c.sendMu.Unlock()
	if !joined {
		// A middleware called Disconnect: refuse rather than leave the
		// client waiting for an answer.
		c.sendConnectError(name, &ConnectError{Message: "disconnected during connection"})
		return
	}
	if err != nil {
		// The session is closing: its HandleClose will report the socket gone.
		c.debug("CONNECT reply not sent", "nsp", name, "error", err.Error())
		return
	}
	nsp.notifyConnection(s)
}

func (c *conn) sendConnectError(nsp string, err error) {
	p := Packet{Type: PacketConnectError, Namespace: nsp, Data: connectErrorPayload(err)}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if sendErr := c.eio.Send(engineio.Message{Data: p.Encode()}); sendErr != nil {
		c.debug("CONNECT_ERROR not sent", "nsp", nsp, "error", sendErr.Error())
	}
}

// sendLocked queues a packet and its attachments. The caller holds sendMu.
// It checks the room for the whole packet first: queuing the text and then
// failing on an attachment would leave the client's decoder waiting for
// binary that never comes.
func (c *conn) sendLocked(p Packet, bufs [][]byte) error {
	text := p.Encode()
	if len(bufs) > 0 {
		size := len(text)
		for _, b := range bufs {
			size += len(b)
		}
		if c.eio.QueuedBytes()+size > c.srv.maxQueueBytes {
			return fmt.Errorf("socketio: while sending %s: %w", p.Type, engineio.ErrQueueFull)
		}
	}
	if err := c.eio.Send(engineio.Message{Data: text}); err != nil {
		return fmt.Errorf("socketio: while sending %s: %w", p.Type, err)
	}
	for _, b := range bufs {
		if err := c.eio.Send(engineio.Message{Data: b, Binary: true}); err != nil {
			// Only a concurrent close gets here (the room was checked and
			// only sendMu holders queue messages); end the session rather
			// than leave half a packet.
			c.eio.Abort()
			return fmt.Errorf("socketio: while sending an attachment: %w", err)
		}
	}
	return nil
}

func (c *conn) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

// remove forgets s. A session left in no namespace gets ConnectTimeout to
// join one again before it is closed. It is not closed at once: the
// client reads a DISCONNECT packet for its last namespace and then closes
// the session itself (socket.io-client does); a close packet arriving right
// behind the DISCONNECT would be handled first and turn the client's
// "io server disconnect", after which it stays away, into "transport
// close", after which it reconnects.
func (c *conn) remove(s *Socket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sockets = slices.DeleteFunc(c.sockets, func(x *Socket) bool { return x == s })
	if len(c.sockets) == 0 {
		c.armIdleTimerLocked()
	}
}

// armIdleTimerLocked (re)starts the timer that closes a session in no
// namespace.
func (c *conn) armIdleTimerLocked() {
	if c.closed {
		return
	}
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.idleGen++
	gen := c.idleGen
	c.idleTimer = time.AfterFunc(c.srv.cfg.ConnectTimeout, func() { c.idleTimeout(gen) })
}

// disarmIdleTimerLocked stops the idle timer once the session is in a
// namespace, and lets it go: a long-lived session then holds no timer.
func (c *conn) disarmIdleTimerLocked() {
	if c.idleTimer != nil {
		c.idleTimer.Stop()
		c.idleTimer = nil
	}
	c.idleGen++
}

// closeWithReason closes the session, giving its sockets reason instead
// of the engine's "forced close".
func (c *conn) closeWithReason(reason string) {
	c.setCloseReason(reason)
	c.eio.Close()
}

// setCloseReason gives the session's sockets reason when it closes,
// unless it has one already.
func (c *conn) setCloseReason(reason string) {
	c.mu.Lock()
	if c.closeReason == "" {
		c.closeReason = reason
	}
	c.mu.Unlock()
}

// idleTimeout closes a session that has been in no namespace since the
// timer of generation gen started.
func (c *conn) idleTimeout(gen uint64) {
	c.mu.Lock()
	idle := gen == c.idleGen && len(c.sockets) == 0
	c.mu.Unlock()
	if idle {
		c.debug("closing session in no namespace", "after", c.srv.cfg.ConnectTimeout)
		c.closeWithReason("connect timeout")
	}
}

// HandleClose implements engineio.Handler: every socket of the session
// disconnects with the session's reason.
func (c *conn) HandleClose(reason string) {
	c.mu.Lock()
	c.closed = true
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	if c.closeReason != "" {
		reason = c.closeReason
	}
	sockets := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range sockets {
		s.finish(reason)
	}
	c.pending = nil
}
