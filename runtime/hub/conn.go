package hub

import (
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Conn is what a session needs of its client connection. The WebSocket
// transport (transport.Conn) and the Socket.IO bridge each implement it;
// the hub never sees a socket.
//
// Sends never block on the network: they queue, bounded in bytes, and
// return protocol.ErrQueueFull when the bound would be passed, or
// protocol.ErrClosed once the connection is closing. The transport reads
// on its own and hands frames to the session (Session.Receive or
// Session.HandleFrame), then calls Session.End once when it has stopped.
type Conn interface {
	// SendPrepared queues a frame encoded once for many connections.
	SendPrepared(p *protocol.Prepared, o protocol.Outgoing) error
	// SendText queues a frame for this connection only.
	SendText(b []byte) error
	// Close sends what is queued, then closes with code and reason. The
	// session calls it with its own lock held, so Close must not end the
	// session (Session.End) before it returns.
	// It is idempotent.
	Close(code int, reason string)
	// Abort cuts the connection at once.
	Abort()
	// Closed reports whether the connection has been cut.
	Closed() bool
	// DropPending empties the outbound queue and returns the tags of the
	// frames never written (protocol.Outgoing.Tag).
	DropPending() []any
	// WaitIdle waits up to d until no write is in progress, so that after
	// Abort every unwritten frame is back in the queue for DropPending.
	WaitIdle(d time.Duration) bool
}

// Heartbeater is implemented by connections the hub keeps alive: every
// HeartbeatInterval it pings them, and it closes those that sent nothing
// for HeartbeatTimeout. A connection without it has a heartbeat of its
// own (an Engine.IO session's), and the hub schedules nothing for it.
type Heartbeater interface {
	// Ping asks the client for a sign of life; the transport records the
	// answer in LastRead.
	Ping() error
	// LastRead returns when the client last sent anything.
	LastRead() time.Time
}
