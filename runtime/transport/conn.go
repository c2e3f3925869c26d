package transport

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/netbatch"
	"github.com/fleetwire/fleetwire/runtime/netready"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Config tunes connections. Zero values mean the defaults.
type Config struct {
	// ReadBufferSize is the per-connection read buffer. Default 512 bytes,
	// at least 512: client frames are small, and this buffer lives as long
	// as the socket.
	ReadBufferSize int
	// MaxMessageBytes is the largest client frame accepted; a larger one
	// closes the connection with 1009. Default 64 KiB.
	MaxMessageBytes int64
	// MaxQueueBytes bounds each connection's outbound queue. Default 1 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds each socket write. Default 10s.
	WriteTimeout time.Duration
	// CloseGrace is how long to wait for the client's close reply before
	// the TCP connection is closed. Default 1s.
	CloseGrace time.Duration
	// WriteDelay, when above zero, makes a connection's writer wait this
	// long after its first queued message before writing, so that what
	// arrives meanwhile goes out in the same system call. It trades that
	// much latency for fewer writes under heavy fan-out. Default 0.
	WriteDelay time.Duration
	// EnableCompression negotiates permessage-deflate. Default off: it
	// costs memory and CPU per connection.
	EnableCompression bool
	// ObserveDelivery, when set, is called after each socket write with
	// the time since the written message was accepted.
	ObserveDelivery func(time.Duration)
	// OnBadInput, when set, hears the client address (host:port) of each
	// connection that ended for what its client sent: a message over
	// MaxMessageBytes, or a frame that breaks the WebSocket protocol.
	OnBadInput func(remoteAddr string)
}

// Defaults for Config.
const (
	DefaultReadBufferSize  = 512
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxQueueBytes   = 1 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultCloseGrace      = time.Second
)

func (c Config) withDefaults() Config {
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	// gorilla/websocket adopts the hijacked reader only above 256 bytes.
	c.ReadBufferSize = max(c.ReadBufferSize, 512)
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = DefaultCloseGrace
	}
	return c
}

// Errors returned by the sends; they are the protocol package's, which
// every transport returns.
var (
	ErrQueueFull = protocol.ErrQueueFull
	ErrClosed    = protocol.ErrClosed
)

// Upgrader upgrades HTTP requests to Conns. The caller checks Origin and
// authentication before calling Upgrade.
type Upgrader struct {
	cfg Config
	ws  websocket.Upgrader
	// readBufs lends connections their read buffers while they read
	// (Conn.Wait): *bufio.Reader of cfg.ReadBufferSize.
	readBufs *sync.Pool
}

// NewUpgrader returns an Upgrader for cfg.
func NewUpgrader(cfg Config) *Upgrader {
	cfg = cfg.withDefaults()
	size := cfg.ReadBufferSize
	return &Upgrader{
		cfg:      cfg,
		readBufs: &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, size) }},
		ws: websocket.Upgrader{
			// Zero makes gorilla adopt the reader that hijackResponse
			// supplies, with a buffer of cfg.ReadBufferSize.
			// Write buffers are only needed while a message is written with
			// NextWriter; pooling them keeps idle connections small.
			WriteBufferPool:   &sync.Pool{},
			EnableCompression: cfg.EnableCompression,
			// Origin is checked by the caller, which answers with a JSON 403.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

// Upgrade completes the WebSocket handshake. On failure gorilla has already
// written an HTTP error response.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, h http.Header) (*Conn, error) {
	hw := &hijackResponse{ResponseWriter: w, bufs: u.readBufs}
	ws, err := u.ws.Upgrade(hw, r, h)
	if err != nil {
		hw.lend.Release()
		return nil, err
	}
	ws.SetReadLimit(u.cfg.MaxMessageBytes)
	c := &Conn{ws: ws, nc: hw.conn, lend: hw.lend, cfg: &u.cfg}
	if c.lend.BR != nil {
		c.raw = netready.Of(hw.conn.Conn)
	}
	if c.raw != nil {
		c.lend.GiveBack() // gorilla has read nothing yet; Wait borrows again
	}
	c.touch()
	ws.SetPongHandler(func(string) error { c.touch(); return nil })
	return c, nil
}

type itemKind uint8

const (
	kindPrepared itemKind = iota
	kindText
	kindPing
	kindPong
	kindClose
)

type item struct {
	kind      itemKind
	pm        *websocket.PreparedMessage
	data      []byte
	size      int
	code      int
	reason    string
	tag       any
	accepted  time.Time
	onWritten func()
}

// Outgoing describes a prepared message for SendPrepared. OnWritten runs
// on the writer goroutine, and the delay since Accepted is reported to
// Config.ObserveDelivery.
type Outgoing = protocol.Outgoing

// Conn is one WebSocket connection. Exactly one goroutine calls Read; any
// goroutine may call Send, Ping and Close, which never block on the socket.
type Conn struct {
	ws  *websocket.Conn
	nc  *netbatch.Conn
	raw syscall.RawConn // for waiting on readability; nil if unavailable
	cfg *Config
	// lend holds the reader gorilla reads frames from (BR), and lends it a
	// buffer from the upgrader's pool while the connection reads. Only the
	// reader touches it (Wait, serve).
	lend netready.Lender

	mu      sync.Mutex
	queue   []item
	bytes   int
	writing bool
	closing bool // a close is queued; data sends are refused
	silent  bool // the close is for the client's silence: no reply is awaited

	closed   atomic.Bool
	deaf     atomic.Bool // closed for abuse: nothing more is read (see Close)
	lastRead atomic.Int64
}

func (c *Conn) touch() { c.lastRead.Store(time.Now().UnixNano()) }

// LastRead returns when the last frame (data, ping or pong) arrived.
func (c *Conn) LastRead() time.Time { return time.Unix(0, c.lastRead.Load()) }

// RemoteAddr returns the peer address.
func (c *Conn) RemoteAddr() string { return c.ws.RemoteAddr().String() }

// Read returns the next data frame's payload. Control frames are handled
// inside. Any error ends the connection. Callers that hold many idle
// connections call Wait first (see Wait).
//
// The message limit holds for the message as it is after decompression:
// gorilla/websocket bounds only the bytes on the wire, so a small
// permessage-deflate frame could otherwise inflate without bound.
func (c *Conn) Read() ([]byte, error) {
	c.lend.Borrow() // Wait borrowed it already, unless the caller did not wait
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	p, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(p)) > c.cfg.MaxMessageBytes {
		// Written at once, as gorilla/websocket writes its own 1009: the
		// connection ends as soon as Read returns.
		msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "message too big")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteTimeout))
		return nil, websocket.ErrReadLimit
	}
	c.touch()
	return p, nil
}

// Wait parks the reader until a data frame, a close frame or an error is
// ready for Read. Pings and pongs that arrive in between are handled here
// (see consumeControl), so that Read is called only when it will return.
//
// Both matter for memory. Wait parks a few frames above the scheduler
// instead of deep inside gorilla/websocket's read path, so an idle reader's
// stack stays small enough for the runtime to shrink. And gorilla's Read
// returns only on a data frame: called for a heartbeat pong, it would stay
// parked, deep, until the client next sent data.
//
// While it waits with nothing buffered, the connection holds no read
// buffer: it gives it back to the upgrader's pool and borrows one once the
// socket is readable. An idle connection saves ReadBufferSize bytes; a
// busy one borrows and returns a buffer per wake-up, without allocating.
func (c *Conn) Wait() {
	if c.raw == nil {
		return
	}
	for {
		if c.lend.BR.Buffered() == 0 {
			c.lend.GiveBack()
			netready.Wait(c.raw)
			c.lend.Borrow()
		}
		if !c.consumeControl() {
			return
		}
	}
}

// WebSocket framing (RFC 6455 section 5.2) for the control frames that
// consumeControl handles itself.
const (
	opPing          = 0x9
	opPong          = 0xA
	maxControlBytes = 125
	maskBytes       = 4
)

// consumeControl handles one complete ping or pong frame at the head of
// the read buffer and reports whether it did. Anything else (a data or
// close frame, a malformed header, an error) is left for gorilla/websocket
// to read and judge. It runs only between messages, when gorilla holds no
// partial frame, so the two never disagree about where a frame starts.
func (c *Conn) consumeControl() bool {
	h, err := c.lend.BR.Peek(2)
	if err != nil {
		return false
	}
	op, n := h[0]&0x0f, int(h[1]&0x7f)
	fin, rsv, masked := h[0]&0x80 != 0, h[0]&0x70, h[1]&0x80 != 0
	if (op != opPing && op != opPong) || !fin || rsv != 0 || !masked || n > maxControlBytes {
		return false
	}
	f, err := c.lend.BR.Peek(2 + maskBytes + n)
	if err != nil {
		return false
	}
	c.touch()
	if op == opPing {
		mask, payload := f[2:2+maskBytes], make([]byte, n)
		for i := range payload {
			payload[i] = f[2+maskBytes+i] ^ mask[i%maskBytes]
		}
		_ = c.enqueue(item{kind: kindPong, data: payload}, false)
	}
	_, _ = c.lend.BR.Discard(2 + maskBytes + n)
	return true
}

// SendPrepared queues a message encoded once for many connections. Its
// WebSocket frame is built once per message and kept in p.
func (c *Conn) SendPrepared(p *protocol.Prepared, o Outgoing) error {
	v, err := p.Form(preparedKey{}, func(b []byte) (any, error) {
		return websocket.NewPreparedMessage(websocket.TextMessage, b)
	})
	if err != nil {
		return fmt.Errorf("while framing a message: %w", err)
	}
	pm := v.(*websocket.PreparedMessage)
	return c.enqueue(item{kind: kindPrepared, pm: pm, size: o.Size, tag: o.Tag, accepted: o.Accepted, onWritten: o.OnWritten}, true)
}

// preparedKey stores the WebSocket frame in a protocol.Prepared.
type preparedKey struct{}

// SendText queues a text frame for this connection only.
func (c *Conn) SendText(b []byte) error {
	return c.enqueue(item{kind: kindText, data: b, size: len(b)}, true)
}

// Ping queues a WebSocket ping. Pings are not counted against the bound.
func (c *Conn) Ping() error {
	return c.enqueue(item{kind: kindPing}, false)
}

// Close queues a close frame behind what is already queued, so earlier
// messages still reach the client, then closes the TCP connection once the
// client replies or CloseGrace passes. A client closed for its silence
// (protocol.CloseHeartbeatTimeout) is not waited for: the connection is cut
// once the close frame is written. From a client closed for abuse
// (protocol.ClosePolicyViolation) nothing more is read: it would keep
// sending what it was flooding the connection with, and reading that
// through the grace would cost as much as the flood. The connection is
// cut once the grace has passed, which leaves the client time to read
// the close frame. Close is idempotent.
func (c *Conn) Close(code int, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.silent = code == protocol.CloseHeartbeatTimeout
	c.deaf.Store(code == protocol.ClosePolicyViolation)
	c.mu.Unlock()
	_ = c.enqueue(item{kind: kindClose, code: code, reason: reason}, false)
}

// DropPending empties the outbound queue and returns the tags of the data
// messages that were never written, so the caller can requeue them.
func (c *Conn) DropPending() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var tags []any
	kept := c.queue[:0]
	for _, it := range c.queue {
		switch {
		case it.kind == kindClose:
			kept = append(kept, it)
		case it.tag != nil:
			tags = append(tags, it.tag)
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.bytes = 0
	return tags
}

// Abort closes the TCP connection at once. The reader sees an error.
func (c *Conn) Abort() {
	if c.closed.CompareAndSwap(false, true) {
		_ = c.ws.Close()
	}
}

// Closed reports whether the TCP connection has been closed.
func (c *Conn) Closed() bool { return c.closed.Load() }

// QueuedBytes returns the bytes waiting in the outbound queue.
func (c *Conn) QueuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *Conn) enqueue(it item, bounded bool) error {
	c.mu.Lock()
	if c.closed.Load() || (c.closing && it.kind != kindClose) {
		c.mu.Unlock()
		return ErrClosed
	}
	if bounded && c.bytes+it.size > c.cfg.MaxQueueBytes {
		c.mu.Unlock()
		return ErrQueueFull
	}
	c.queue = append(c.queue, it)
	c.bytes += it.size
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return nil
}

// writeLoop drains the queue and exits when it is empty, so no goroutine
// waits on an idle connection.
func (c *Conn) writeLoop() {
	if d := c.cfg.WriteDelay; d > 0 {
		time.Sleep(d)
	}
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed.Load() {
			// Aborted before this batch was taken: it stays queued, so
			// that DropPending hands its tags back.
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.bytes = nil, 0
		c.mu.Unlock()
		written, closeSent, err := c.writeBatch(batch)
		if err != nil || closeSent {
			c.mu.Lock()
			if err != nil {
				// Keep what was not written, ahead of anything queued
				// since, so DropPending can hand it back.
				c.queue = append(unwrittenTagged(batch[written:]), c.queue...)
			} else {
				c.queue, c.bytes = nil, 0
			}
			c.writing = false
			silent := c.silent
			c.mu.Unlock()
			switch {
			case err != nil, silent:
				c.Abort()
			default:
				time.AfterFunc(c.cfg.CloseGrace, c.Abort)
			}
			return
		}
	}
}

// unwrittenTagged keeps the items whose tags a caller may want back.
func unwrittenTagged(items []item) []item {
	var out []item
	for _, it := range items {
		if it.tag != nil {
			out = append(out, it)
		}
	}
	return out
}

// WaitIdle waits, up to d, until no writer is running, so that after
// Abort the unwritten messages are all back in the queue for DropPending.
// An aborted connection's writes fail at once, so the wait is short.
func (c *Conn) WaitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		if !writing {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// writeBatch writes the batch and returns how many items reached the
// socket buffer, whether a close frame was among them, and the first error.
// With batching, a failed flush means none is known to have been written.
func (c *Conn) writeBatch(batch []item) (written int, closeSent bool, err error) {
	batched := len(batch) > 1
	if batched {
		c.nc.Hold()
	}
	deadline := time.Now().Add(c.cfg.WriteTimeout)
	for _, it := range batch {
		if err = c.writeItem(it, deadline); err != nil {
			break
		}
		written++
		if it.kind == kindClose {
			closeSent = true
			break
		}
	}
	if batched {
		if rerr := c.nc.Release(); err == nil && rerr != nil {
			err, written, closeSent = rerr, 0, false
		}
	}
	if err == nil {
		now := time.Now()
		for _, it := range batch[:written] {
			if !it.accepted.IsZero() && c.cfg.ObserveDelivery != nil {
				c.cfg.ObserveDelivery(now.Sub(it.accepted))
			}
			if it.onWritten != nil {
				it.onWritten()
			}
		}
	}
	return written, closeSent, err
}

func (c *Conn) writeItem(it item, deadline time.Time) error {
	switch it.kind {
	case kindPing:
		return c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	case kindPong:
		return c.ws.WriteControl(websocket.PongMessage, it.data, deadline)
	case kindClose:
		return c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(it.code, it.reason), deadline)
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if it.kind == kindPrepared {
		return c.ws.WritePreparedMessage(it.pm)
	}
	return c.ws.WriteMessage(websocket.TextMessage, it.data)
}
