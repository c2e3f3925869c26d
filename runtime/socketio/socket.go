package socketio

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

type socketState uint8

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

	mu        sync.Mutex
	state     socketState
	nextAckID uint32 // wraps after 2^32 acks asked for, long after any is answered
	reason    string // set when disconnected
	data      any
	handler   Handler
	hooks     *hooks // nil until On, OnAny or OnDisconnect is first called
	acks      map[uint64]func(args []any)
}

// hooks are the handlers added with On, OnAny and OnDisconnect.
type hooks struct {
	events       map[string][]func(*Event)
	any          []func(*Event)
	onDisconnect []func(reason string)
}

// Handler takes a socket's events and its disconnection, in one value a
// program already holds per socket: a server with many long-lived sockets
// then spends no allocation on their handlers. See Socket.Handle.
type Handler interface {
	// HandleEvent is called for each event that no On or OnAny handler
	// takes, as those are: one at a time, in order.
	HandleEvent(e *Event)
	// HandleDisconnect is called once when the socket leaves its
	// namespace, after the OnDisconnect handlers, with the same reason.
	HandleDisconnect(reason string)
}

// Handle sets the socket's Handler, replacing any set before. Set after
// the socket left its namespace, it gets HandleDisconnect at once.
func (s *Socket) Handle(h Handler) {
	s.mu.Lock()
	if s.state == socketDisconnected {
		reason := s.reason
		s.mu.Unlock()
		h.HandleDisconnect(reason)
		return
	}
	s.handler = h
	s.mu.Unlock()
}

// SetData attaches a value of the program's own to the socket, as
// socket.data does in the reference server; Data returns it.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached, or nil.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// hooksLocked returns the socket's hooks, made on first use.
func (s *Socket) hooksLocked() *hooks {
	if s.hooks == nil {
		s.hooks = &hooks{}
	}
	return s.hooks
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
	hk := s.hooksLocked()
	if hk.events == nil {
		hk.events = make(map[string][]func(*Event))
	}
	hk.events[event] = append(hk.events[event], h)
	s.mu.Unlock()
}

// OnAny adds a handler for events that have no On handler.
func (s *Socket) OnAny(h func(e *Event)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.any = append(hk.any, h)
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
	hk := s.hooksLocked()
	hk.onDisconnect = append(hk.onDisconnect, h)
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
	id := uint64(s.nextAckID)
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
	m.Data, m.Frame = p.Encode(), nil // a frame prepared for many is not this one
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
	gone, ok := s.leave(ReasonServerDisconnect)
	c.sendMu.Unlock()
	if !ok {
		return
	}
	// A socket disconnected by its own middleware never joined: the
	// session stays as it was.
	if wasConnected {
		c.remove(s)
	}
	gone.run()
}

// finish marks the socket disconnected and runs its disconnection
// handlers, once.
func (s *Socket) finish(reason string) {
	if gone, ok := s.leave(reason); ok {
		gone.run()
	}
}

// departure is what runs once a socket has left its namespace.
type departure struct {
	reason   string
	handlers []func(string)
	handler  Handler
}

func (d departure) run() {
	for _, h := range d.handlers {
		h(d.reason)
	}
	if d.handler != nil {
		d.handler.HandleDisconnect(d.reason)
	}
}

// leave moves the socket to disconnected, once, and returns what to run.
func (s *Socket) leave(reason string) (departure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == socketDisconnected {
		return departure{}, false
	}
	s.state, s.reason = socketDisconnected, reason
	d := departure{reason: reason, handler: s.handler}
	if s.hooks != nil {
		d.handlers = s.hooks.onDisconnect
		s.hooks.onDisconnect = nil
	}
	s.handler, s.acks = nil, nil
	return d, true
}
