package socketio

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

type socketState int

const (
	socketConnecting socketState = iota // middlewares running
	socketConnected
	socketDisconnected
)

// Socket is a client's membership of one namespace. One Engine.IO session
// carries a Socket per namespace the client joined. Its methods are safe
// for concurrent use.
type Socket struct {
	id   string
	nsp  *Namespace
	conn *conn

	mu           sync.Mutex
	state        socketState
	reason       string // set when disconnected
	handlers     map[string][]func(*Event)
	anyHandlers  []func(*Event)
	onDisconnect []func(reason string)
	acks         map[uint64]func(args []any)
	nextAckID    uint64
}

// ID returns the socket's id, sent to the client in the CONNECT reply. It
// differs from the Engine.IO session id (Conn().ID()).
func (s *Socket) ID() string { return s.id }

// Namespace returns the name of the socket's namespace.
func (s *Socket) Namespace() string { return s.nsp.name }

// Conn returns the Engine.IO session, shared by the client's namespaces.
func (s *Socket) Conn() *engineio.Socket { return s.conn.eio }

// On adds a handler for the event name. Handlers run in the order added,
// one event at a time, in the order the client sent the events.
func (s *Socket) On(event string, h func(e *Event)) {
	s.mu.Lock()
	if s.handlers == nil {
		s.handlers = make(map[string][]func(*Event))
	}
	s.handlers[event] = append(s.handlers[event], h)
	s.mu.Unlock()
}

// OnAny adds a handler for events that have no On handler.
func (s *Socket) OnAny(h func(e *Event)) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called exactly once when the socket leaves
// its namespace, with the reason: "client namespace disconnect", "server
// namespace disconnect", "parse error", or the Engine.IO session's close
// reason ("transport close", "ping timeout", "server shutting down", ...).
// Added after the socket left, it runs at once.
func (s *Socket) OnDisconnect(h func(reason string)) {
	s.mu.Lock()
	if s.state == socketDisconnected {
		reason := s.reason
		s.mu.Unlock()
		h(reason)
		return
	}
	s.onDisconnect = append(s.onDisconnect, h)
	s.mu.Unlock()
}

// Connected reports whether the socket is in its namespace.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == socketConnected
}

// Emit sends an event. Arguments are marshalled with encoding/json, except
// []byte values (also inside maps, slices and arrays), which travel as
// binary attachments of a BINARY_EVENT, and json.RawMessage values, which
// are sent as they are. Emit never blocks on the network; it fails with
// ErrDisconnected, or with engineio.ErrQueueFull when the client reads too
// slowly (the caller decides whether that disconnects it).
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(nil, event, args)
}

// EmitWithAck is Emit asking the client to acknowledge: ack runs with the
// client's ack arguments (decoded as in Event.Args) on the goroutine that
// reads the session. It never runs if the socket disconnects first.
func (s *Socket) EmitWithAck(ack func(args []any), event string, args ...any) error {
	return s.emit(ack, event, args)
}

func (s *Socket) emit(ack func([]any), event string, args []any) error {
	if reservedEvents[event] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	raws, bufs, err := encodeArgs(args)
	if err != nil {
		return fmt.Errorf("socketio: emit %q: %w", event, err)
	}
	name, _ := json.Marshal(event) // a string: cannot fail
	p := Packet{Type: PacketEvent, Namespace: s.nsp.name, Data: joinArray(name, raws)}
	if len(bufs) > 0 {
		p.Type, p.Attachments = PacketBinaryEvent, len(bufs)
	}
	if ack == nil {
		return s.send(p, bufs)
	}
	p.ID, p.HasID = s.expectAck(ack), true
	return s.forgetAckOnError(p.ID, s.send(p, bufs))
}

// expectAck registers ack under the socket's next ack id and returns it.
func (s *Socket) expectAck(ack func([]any)) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextAckID
	s.nextAckID++
	if s.acks == nil {
		s.acks = make(map[uint64]func([]any))
	}
	s.acks[id] = ack
	return id
}

// forgetAckOnError drops the ack registered under id when the packet that
// asked for it was not sent, and returns err.
func (s *Socket) forgetAckOnError(id uint64, err error) error {
	if err != nil {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
	}
	return err
}

// send queues p while the socket is connected.
func (s *Socket) send(p Packet, bufs [][]byte) error {
	c := s.conn
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !s.Connected() {
		return ErrDisconnected
	}
	return c.sendLocked(p, bufs)
}

// SendPacket queues m, an already encoded Socket.IO text packet for this
// socket's namespace (such as EncodeEvent's result), while the socket is
// connected. It lets a caller encode a broadcast once for many sockets; m
// may carry engineio's Tag and OnWritten.
func (s *Socket) SendPacket(m engineio.Message) error {
	c := s.conn
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !s.Connected() {
		return ErrDisconnected
	}
	if err := c.eio.Send(m); err != nil {
		return fmt.Errorf("socketio: while sending a packet: %w", err)
	}
	return nil
}

// SendPacketWithAck is SendPacket for an EVENT packet that asks the client
// to acknowledge it: it gives m.Data (an EVENT packet without an ack id,
// as EncodeEvent returns) the socket's next ack id, and ack runs with the
// client's answer as in EmitWithAck. The packet is encoded again for this
// socket, so encoding once for many sockets holds only without acks.
func (s *Socket) SendPacketWithAck(m engineio.Message, ack func(args []any)) error {
	p, err := DecodePacket(m.Data)
	if err != nil || p.Type != PacketEvent || p.HasID {
		return fmt.Errorf("socketio: SendPacketWithAck takes an EVENT packet without an ack id")
	}
	p.ID, p.HasID = s.expectAck(ack), true
	m.Data = p.Encode()
	return s.forgetAckOnError(p.ID, s.SendPacket(m))
}

// Disconnect removes the socket from its namespace: it sends DISCONNECT
// and runs the OnDisconnect handlers ("server namespace disconnect").
// When the client is in no namespace any more, it closes the Engine.IO
// session itself (socket.io-client does at once); if it has neither done
// so nor joined a namespace again after Config.ConnectTimeout, the server
// closes it. Idempotent.
func (s *Socket) Disconnect() {
	c := s.conn
	p := Packet{Type: PacketDisconnect, Namespace: s.nsp.name}
	c.sendMu.Lock()
	s.mu.Lock()
	wasConnected := s.state == socketConnected
	s.mu.Unlock()
	if wasConnected {
		if err := c.eio.Send(engineio.Message{Data: p.Encode()}); err != nil {
			c.debug("DISCONNECT not sent", "nsp", s.nsp.name, "error", err.Error())
		}
	}
	handlers, reason, ok := s.leave(ReasonServerDisconnect)
	c.sendMu.Unlock()
	if !ok {
		return
	}
	// A socket disconnected by its own middleware never joined: the
	// session stays as it was.
	if wasConnected {
		c.remove(s)
	}
	runDisconnect(handlers, reason)
}

// finish marks the socket disconnected and runs its OnDisconnect
// handlers, once.
func (s *Socket) finish(reason string) {
	if handlers, reason, ok := s.leave(reason); ok {
		runDisconnect(handlers, reason)
	}
}

// leave moves the socket to disconnected, once, and returns the handlers to run.
func (s *Socket) leave(reason string) ([]func(string), string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == socketDisconnected {
		return nil, s.reason, false
	}
	s.state, s.reason = socketDisconnected, reason
	handlers := s.onDisconnect
	s.onDisconnect, s.acks = nil, nil
	return handlers, reason, true
}

func runDisconnect(handlers []func(string), reason string) {
	for _, h := range handlers {
		h(reason)
	}
}
