package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the first character of every Socket.IO packet.
type PacketType byte

// The packet types of protocol revision 5.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

var packetTypeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the name the protocol specification uses for t.
func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// IsBinary reports whether packets of type t are followed by binary attachments.
func (t PacketType) IsBinary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// maxAttachments bounds the attachment count a peer may announce. The
// protocol sets no limit; without one a client could make the server buffer
// an unbounded number of binary messages for a single packet.
const maxAttachments = 1000

// ErrInvalidPacket is wrapped by every error DecodePacket returns.
var ErrInvalidPacket = errors.New("socketio: invalid packet")

// reservedEvents are event names that the reference implementations use for
// their own purposes; a peer must not send them (socket.io-parser refuses them).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Packet is one decoded Socket.IO packet, without its binary attachments,
// which arrive as the next Attachments Engine.IO binary messages.
type Packet struct {
	Type      PacketType
	Namespace string // "/" when the packet names none
	ID        uint64 // acknowledgement id, meaningful when HasID
	HasID     bool
	// Data is the JSON payload as received (binary attachments still as
	// placeholders), nil when the packet has none. DecodePacket returns a
	// slice of its input.
	Data        json.RawMessage
	Attachments int // number of binary attachments; only for binary types
}

// DecodePacket parses the text form of a packet, that is an Engine.IO
// message's payload after its '4' type byte:
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// It checks the payload against the type as the specification requires
// (an EVENT carries a non-empty array whose first element names the event,
// an ACK an array, a CONNECT an optional object, a DISCONNECT nothing).
func DecodePacket(b []byte) (Packet, error) {
	p, _, err := decodePacket(b)
	return p, err
}

// event is an EVENT payload split into its name and arguments. Decoding a
// packet checks its payload by splitting it, and the split is kept for
// the dispatch, so that an event's JSON is scanned once.
type event struct {
	name string
	args []json.RawMessage
}

// decodePacket is DecodePacket, which also returns the split payload of
// an EVENT or BINARY_EVENT (nil for other types).
func decodePacket(b []byte) (Packet, *event, error) {
	var p Packet
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return p, nil, fmt.Errorf("%w: unknown packet type", ErrInvalidPacket)
	}
	p.Type = PacketType(b[0] - '0')
	rest := b[1:]
	if p.Type.IsBinary() {
		n, after, err := decodeAttachments(rest)
		if err != nil {
			return p, nil, err
		}
		p.Attachments, rest = n, after
	}
	p.Namespace, rest = decodeNamespace(rest)
	id, hasID, rest, err := decodeID(rest)
	if err != nil {
		return p, nil, err
	}
	p.ID, p.HasID = id, hasID
	if len(rest) > 0 {
		p.Data = json.RawMessage(rest)
	}
	if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
		e, err := splitEvent(p.Data)
		return p, e, err
	}
	return p, nil, validatePayload(p.Type, p.Data)
}

// decodeAttachments reads the "<count>-" part of a binary packet.
func decodeAttachments(b []byte) (int, []byte, error) {
	dash := bytes.IndexByte(b, '-')
	if dash <= 0 || dash > 4 || !allDigits(b[:dash]) {
		return 0, b, fmt.Errorf("%w: illegal attachments", ErrInvalidPacket)
	}
	n, _ := strconv.Atoi(string(b[:dash])) // at most 4 digits: cannot fail
	if n > maxAttachments {
		return 0, b, fmt.Errorf("%w: %d attachments, more than %d", ErrInvalidPacket, n, maxAttachments)
	}
	return n, b[dash+1:], nil
}

// decodeNamespace reads "/name," when present. Like socket.io-parser it takes
// a namespace that runs to the end of the packet without a comma ("1/admin").
func decodeNamespace(b []byte) (string, []byte) {
	if len(b) == 0 || b[0] != '/' {
		return "/", b
	}
	comma := bytes.IndexByte(b, ',')
	if comma < 0 {
		return string(b), nil
	}
	return string(b[:comma]), b[comma+1:]
}

func decodeID(b []byte) (uint64, bool, []byte, error) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, false, b, nil
	}
	id, err := strconv.ParseUint(string(b[:n]), 10, 64)
	if err != nil {
		return 0, false, b, fmt.Errorf("%w: ack id: %w", ErrInvalidPacket, err)
	}
	return id, true, b[n:], nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validatePayload applies the specification's rules for each packet type
// but EVENT and BINARY_EVENT, whose payload splitEvent checks.
func validatePayload(t PacketType, data json.RawMessage) error {
	if data != nil && !json.Valid(data) {
		return fmt.Errorf("%w: payload is not JSON", ErrInvalidPacket)
	}
	kind := jsonKind(data)
	ok := false
	switch t {
	case PacketConnect:
		ok = kind == 0 || kind == '{'
	case PacketDisconnect:
		ok = kind == 0
	case PacketConnectError:
		ok = kind == '{' || kind == '"'
	case PacketAck, PacketBinaryAck:
		ok = kind == '['
	}
	if !ok {
		return fmt.Errorf("%w: payload not allowed for %s", ErrInvalidPacket, t)
	}
	return nil
}

// jsonKind returns the first non-space byte of a JSON text, 0 when empty.
func jsonKind(data []byte) byte {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// splitEvent splits an EVENT payload into the event name and its arguments.
// A number is accepted as a name, as socket.io-parser does.
func splitEvent(data json.RawMessage) (*event, error) {
	var elems []json.RawMessage
	if jsonKind(data) != '[' || json.Unmarshal(data, &elems) != nil || len(elems) == 0 {
		return nil, fmt.Errorf("%w: event payload must be a non-empty array", ErrInvalidPacket)
	}
	var name string
	switch jsonKind(elems[0]) {
	case '"':
		if err := json.Unmarshal(elems[0], &name); err != nil {
			return nil, fmt.Errorf("%w: event name: %w", ErrInvalidPacket, err)
		}
		if reservedEvents[name] {
			return nil, fmt.Errorf("%w: reserved event name %q", ErrInvalidPacket, name)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		name = string(bytes.TrimSpace(elems[0]))
	default:
		return nil, fmt.Errorf("%w: event name must be a string or a number", ErrInvalidPacket)
	}
	return &event{name: name, args: elems[1:]}, nil
}

// AppendEncode appends the text form of p to b. The caller sends it as an
// Engine.IO message (engineio adds the '4' message type), followed by the
// p.Attachments binary messages.
func (p Packet) AppendEncode(b []byte) []byte {
	b = append(b, '0'+byte(p.Type))
	if p.Type.IsBinary() {
		b = strconv.AppendInt(b, int64(p.Attachments), 10)
		b = append(b, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		b = append(b, p.Namespace...)
		b = append(b, ',')
	}
	if p.HasID {
		b = strconv.AppendUint(b, p.ID, 10)
	}
	return append(b, p.Data...)
}

// Encode returns the text form of p (see AppendEncode).
func (p Packet) Encode() []byte { return p.AppendEncode(nil) }

// EncodeEvent returns the text form of an EVENT packet for namespace nsp,
// "2[<event>,<args>...]" or "2/nsp,[...]", without the Engine.IO '4' prefix.
// Each element of args is one argument as JSON text; a nil one is sent as
// null. It lets a caller encode once and send to many sockets with
// Socket.SendPacket.
func EncodeEvent(nsp string, event string, args ...json.RawMessage) []byte {
	name, _ := json.Marshal(event) // marshalling a string cannot fail
	return Packet{Type: PacketEvent, Namespace: nsp, Data: joinArray(name, args)}.Encode()
}

// EncodeAck returns the text form of an ACK packet answering id in
// namespace nsp, without the Engine.IO '4' prefix.
func EncodeAck(nsp string, id uint64, args ...json.RawMessage) []byte {
	return Packet{Type: PacketAck, Namespace: nsp, ID: id, HasID: true, Data: joinArray(nil, args)}.Encode()
}

// joinArray builds the JSON array [first, args...] (first omitted when nil).
func joinArray(first []byte, args []json.RawMessage) json.RawMessage {
	size := 2 + len(first)
	for _, a := range args {
		size += len(a) + 5
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	b = append(b, first...)
	for i, a := range args {
		if i > 0 || first != nil {
			b = append(b, ',')
		}
		if a == nil {
			a = json.RawMessage("null")
		}
		b = append(b, a...)
	}
	return append(b, ']')
}
