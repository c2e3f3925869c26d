package transport

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// maxBatchBytes caps how much one batch buffers before it writes, so a
// burst to one connection never holds more than this in the batch buffer.
const maxBatchBytes = 64 << 10

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// batchConn wraps the hijacked net.Conn. Between hold and release, writes
// (frames from gorilla/websocket, which writes each frame with its own
// Write call) are appended to one buffer and reach the socket in a single
// write. Outside a batch, writes pass straight through.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte
	err     error
}

func (c *batchConn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release writes what the batch buffered and returns the first error seen.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	err := c.flushLocked()
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		batchPool.Put(c.buf)
		c.buf = nil
	}
	if c.err != nil {
		err, c.err = c.err, nil
	}
	return err
}

func (c *batchConn) flushLocked() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// Write implements net.Conn. Inside a batch an error is reported on
// release; gorilla/websocket would otherwise treat it as fatal mid-batch
// just the same.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.holding {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = batchPool.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) > maxBatchBytes {
		if err := c.flushLocked(); err != nil && c.err == nil {
			c.err = err
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// hijackResponse hands gorilla/websocket a batchConn instead of the raw
// connection when it hijacks the request, and a read buffer of our own
// size that gorilla adopts as the connection's reader. Owning that
// bufio.Reader lets the read loop see whether a frame is already buffered
// before it waits on the socket.
type hijackResponse struct {
	http.ResponseWriter
	readSize int
	conn     *batchConn
	br       *bufio.Reader
}

func (h *hijackResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	if brw.Reader.Buffered() > 0 {
		// gorilla refuses this case itself; keep the server's reader so
		// the bytes are not lost before it does.
		return h.conn, brw, nil
	}
	h.br = bufio.NewReaderSize(h.conn, h.readSize)
	return h.conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

func (h *hijackResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }
