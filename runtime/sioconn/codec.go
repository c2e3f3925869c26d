package sioconn

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

// Codec is the codec for Socket.IO clients on one namespace. A frame is
// a Socket.IO packet's text form (the Engine.IO message payload): an event
// is EVENT ["name", data], a reply is ACK <id>[data], and an error is the
// "error" event, or, for an event the client emitted with a callback, the
// ACK [{"error": {code, message}}].
//
// Codecs are compared as values: each namespace's frames are encoded
// once per message, for all of its clients.
type Codec struct {
	// Namespace is the namespace the packets are for; "" means "/".
	Namespace string
}

func (c Codec) nsp() string {
	if c.Namespace == "" {
		return "/"
	}
	return c.Namespace
}

var (
	_ protocol.Codec          = Codec{}
	_ protocol.MessageEncoder = Codec{}
)

// Name implements Codec.
func (Codec) Name() string { return "socket.io" }

// Decode implements Codec. It takes EVENT packets of the codec's
// namespace; the first argument after the name is the frame's data, and
// the packet's ack id its id. Binary events are not runtime events.
func (c Codec) Decode(p []byte) (protocol.Frame, error) {
	pkt, err := socketio.DecodePacket(p)
	if err != nil {
		return protocol.Frame{}, protocol.Errorf(protocol.CodeBadFrame, "not a Socket.IO packet")
	}
	if pkt.Type != socketio.PacketEvent || pkt.Namespace != c.nsp() {
		return protocol.Frame{}, protocol.Errorf(protocol.CodeBadFrame, "only events of the namespace %s are its frames", c.nsp())
	}
	var args []json.RawMessage
	if err := json.Unmarshal(pkt.Data, &args); err != nil || len(args) == 0 {
		return protocol.Frame{}, protocol.Errorf(protocol.CodeBadFrame, "event packet needs [name, data]")
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil || name == "" {
		return protocol.Frame{}, protocol.Errorf(protocol.CodeBadFrame, "event name must be a non-empty string")
	}
	f := protocol.Frame{Event: name, ID: pkt.ID, HasID: pkt.HasID}
	if len(args) > 1 {
		f.Data = args[1]
	}
	return checkFrame(f)
}

// checkFrame applies the native codec's rules to a decoded frame. On an
// error the frame keeps its id, so the error can answer it.
func checkFrame(f protocol.Frame) (protocol.Frame, error) {
	if f.HasID && f.ID > protocol.MaxSafeID {
		return protocol.Frame{}, protocol.Errorf(protocol.CodeBadFrame, `"id" must be an integer between 0 and %d`, int64(protocol.MaxSafeID))
	}
	if len(f.Event) > protocol.MaxEventLen {
		return f, protocol.Errorf(protocol.CodeBadFrame, "event name is longer than %d bytes", protocol.MaxEventLen)
	}
	if bytes.Equal(f.Data, []byte("null")) {
		f.Data = nil
	}
	return f, nil
}

// EncodeEvent implements Codec.
func (c Codec) EncodeEvent(event string, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		return socketio.EncodeEvent(c.nsp(), event), nil
	}
	return socketio.EncodeEvent(c.nsp(), event, data), nil
}

// EncodeMessage implements protocol.MessageEncoder: an application
// message is the event ["type", message, "<id>"]. socket.io-client keeps
// the last such trailing string as the offset it sends back when it
// reconnects, which is how recovery knows what the client last read.
// Handlers that take one argument never see it.
func (c Codec) EncodeMessage(event, id string, data json.RawMessage) ([]byte, error) {
	offset, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("while encoding message id: %w", err)
	}
	return socketio.EncodeEvent(c.nsp(), event, data, offset), nil
}

// withoutOffset drops the trailing offset argument EncodeMessage added,
// for a message sent with an ack callback: the callback must be the
// handler's second argument, as it is for any Socket.IO event.
func withoutOffset(b []byte, id string) []byte {
	suffix := `,"` + id + `"]`
	if !bytes.HasSuffix(b, []byte(suffix)) {
		return b
	}
	out := make([]byte, 0, len(b)-len(suffix)+1)
	out = append(out, b[:len(b)-len(suffix)]...)
	return append(out, ']')
}

// EncodeAck implements Codec.
func (c Codec) EncodeAck(id uint64, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return socketio.EncodeAck(c.nsp(), id, data), nil
}

// EncodeError implements Codec.
func (c Codec) EncodeError(id uint64, hasID bool, e *protocol.Error) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("while encoding error: %w", err)
	}
	if !hasID {
		return socketio.EncodeEvent(c.nsp(), "error", data), nil
	}
	wrapped := make([]byte, 0, len(data)+10)
	wrapped = append(wrapped, `{"error":`...)
	wrapped = append(wrapped, data...)
	wrapped = append(wrapped, '}')
	return socketio.EncodeAck(c.nsp(), id, wrapped), nil
}
