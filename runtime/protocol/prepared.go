package protocol

import (
	"errors"
	"sync"
	"time"
)

// Prepared is a server frame encoded once for many connections. Its bytes
// are the codec's output; a transport that frames them its own way (a
// WebSocket frame, say) keeps that form in the Prepared too, so it is built
// once per message rather than once per connection. Prepared values are
// safe for concurrent use.
type Prepared struct {
	data []byte

	mu    sync.Mutex
	forms []preparedForm
}

type preparedForm struct {
	key   any
	value any
}

// NewPrepared wraps an encoded frame. The caller must not change b after.
func NewPrepared(b []byte) *Prepared { return &Prepared{data: b} }

// Bytes returns the encoded frame. Callers must not change it.
func (p *Prepared) Bytes() []byte { return p.data }

// Len returns the encoded frame's length in bytes.
func (p *Prepared) Len() int { return len(p.data) }

// Form returns the transport's form of the frame stored under key,
// building it from the bytes on first use. Keys are compared with ==, so a
// transport uses a private key type.
func (p *Prepared) Form(key any, build func([]byte) (any, error)) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.forms {
		if f.key == key {
			return f.value, nil
		}
	}
	v, err := build(p.data)
	if err != nil {
		return nil, err
	}
	p.forms = append(p.forms, preparedForm{key: key, value: v})
	return v, nil
}

// Outgoing describes a prepared frame handed to a connection.
type Outgoing struct {
	// Size is the encoded length in bytes, counted against the
	// connection's outbound bound.
	Size int
	// Tag is returned by the connection's DropPending if the frame is
	// never written.
	Tag any
	// Accepted, when set, is when the message entered the system; the
	// connection reports the delay once the frame is written.
	Accepted time.Time
	// OnWritten, when set, runs once the frame has reached the client:
	// written to the socket, or, on transports that can tell (Socket.IO's
	// heartbeat), read by the client. It must not block.
	OnWritten func()
	// AckID, when set, is the id of a message the client acknowledges
	// (it connected with acks=1). A transport that can ask for an
	// acknowledgement per frame (Socket.IO) does, and reports the answer
	// as an ack_messages of this id; others leave it to the client.
	AckID string
}

// Errors a connection returns from its sends. Every transport returns
// these, so the hub can tell a slow client from a closed one.
var (
	ErrQueueFull = errors.New("outbound queue full")
	ErrClosed    = errors.New("connection closed")
)
