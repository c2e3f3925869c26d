package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// packetType is the first character of an Engine.IO packet.
type packetType byte

const (
	packetOpen    packetType = '0'
	packetClose   packetType = '1'
	packetPing    packetType = '2'
	packetPong    packetType = '3'
	packetMessage packetType = '4'
	packetUpgrade packetType = '5'
	packetNoop    packetType = '6'
)

// recordSeparator joins packets in a polling payload (protocol v4).
const recordSeparator = 0x1e

// binaryPrefix marks a base64-encoded binary message in a polling payload.
const binaryPrefix = 'b'

var errEmptyPacket = errors.New("empty packet")

// packet is one decoded Engine.IO packet. Binary packets are always
// messages: v4 has no type byte on binary frames.
type packet struct {
	typ    packetType
	data   []byte
	binary bool
}

// decodePacket decodes one text packet (a WebSocket text frame or one
// element of a polling payload without the binary prefix).
func decodePacket(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, errEmptyPacket
	}
	t := packetType(b[0])
	if t < packetOpen || t > packetNoop {
		return packet{}, fmt.Errorf("unknown packet type %q", b[0])
	}
	return packet{typ: t, data: b[1:]}, nil
}

// decodePayload splits a polling POST body into packets. Elements starting
// with 'b' are base64 binary messages.
func decodePayload(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errEmptyPacket
	}
	parts := bytes.Split(body, []byte{recordSeparator})
	out := make([]packet, 0, len(parts))
	for i, part := range parts {
		if len(part) > 0 && part[0] == binaryPrefix {
			data := make([]byte, base64.StdEncoding.DecodedLen(len(part)-1))
			n, err := base64.StdEncoding.Decode(data, part[1:])
			if err != nil {
				return nil, fmt.Errorf("packet %d: bad base64: %w", i, err)
			}
			out = append(out, packet{typ: packetMessage, data: data[:n], binary: true})
			continue
		}
		p, err := decodePacket(part)
		if err != nil {
			return nil, fmt.Errorf("packet %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// appendPolling appends p as a polling payload element.
func appendPolling(dst []byte, typ packetType, data []byte, binary bool) []byte {
	if binary {
		dst = append(dst, binaryPrefix)
		return base64.StdEncoding.AppendEncode(dst, data)
	}
	dst = append(dst, byte(typ))
	return append(dst, data...)
}
