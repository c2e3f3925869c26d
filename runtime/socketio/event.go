package socketio

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// Event is one event from a client.
type Event struct {
	// Name is the event name: the payload's first element (a number, which
	// the protocol allows, comes as its JSON text).
	Name string
	// Args are the arguments after the name, decoded from JSON with numbers
	// as json.Number and binary attachments as []byte.
	Args []any
	// RawArgs are the same arguments as JSON text, binary placeholders
	// ({"_placeholder":true,"num":N}) left as they are.
	RawArgs []json.RawMessage
	// AckID is the client's acknowledgement id, meaningful when HasAck.
	AckID  uint64
	HasAck bool
	// Ack answers the client's acknowledgement request, once (later calls
	// return ErrAckSent); nil when the client asked for none. []byte
	// arguments travel as attachments of a BINARY_ACK, as in Socket.Emit.
	Ack func(args ...any) error
}

// onEvent dispatches an EVENT or BINARY_EVENT packet, split into ev, to
// the handlers.
func (s *Socket) onEvent(p Packet, ev *event, bufs [][]byte) error {
	name, raws := ev.name, ev.args
	args, err := decodeArgs(raws, p.Type.IsBinary(), bufs)
	if err != nil {
		return err
	}
	e := &Event{Name: name, Args: args, RawArgs: raws, AckID: p.ID, HasAck: p.HasID}
	if p.HasID {
		e.Ack = s.ackFunc(p.ID)
	}
	s.mu.Lock()
	var handlers []func(*Event)
	if hk := s.hooks; hk != nil {
		handlers = hk.events[name]
		if len(handlers) == 0 {
			handlers = hk.any
		}
	}
	handler := s.handler
	s.mu.Unlock()
	for _, h := range handlers {
		h(e)
	}
	if len(handlers) == 0 && handler != nil {
		handler.HandleEvent(e)
	}
	return nil
}

// ackFunc returns the Event.Ack that answers id.
func (s *Socket) ackFunc(id uint64) func(args ...any) error {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return ErrAckSent
		}
		raws, bufs, err := encodeArgs(args)
		if err != nil {
			return fmt.Errorf("socketio: ack: %w", err)
		}
		p := Packet{Type: PacketAck, Namespace: s.nsp.name, ID: id, HasID: true, Data: joinArray(nil, raws)}
		if len(bufs) > 0 {
			p.Type, p.Attachments = PacketBinaryAck, len(bufs)
		}
		return s.send(p, bufs)
	}
}

// onAck runs the callback EmitWithAck registered for the packet's id. An
// ack for an unknown id (answered twice, or after a reconnect) is ignored.
func (s *Socket) onAck(p Packet, bufs [][]byte) error {
	if !p.HasID {
		return fmt.Errorf("%w: ack without an id", ErrInvalidPacket)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(p.Data, &raws); err != nil {
		return fmt.Errorf("%w: ack payload: %w", ErrInvalidPacket, err)
	}
	args, err := decodeArgs(raws, p.Type.IsBinary(), bufs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ack := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if ack != nil {
		ack(args)
	}
	return nil
}
