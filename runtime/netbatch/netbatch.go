// Package netbatch gathers the frames a WebSocket library writes one by
// one into a single write to the socket. gorilla/websocket writes each
// frame with its own Write call; a writer that sends a connection several
// queued messages at once wraps the connection in a Conn and holds it
// across them, so they cost one system call instead of one each. The
// WebSocket transport and the Engine.IO server both write this way.
package netbatch

import (
	"net"
	"sync"
)

// MaxBytes caps how much one batch buffers before it writes, so a burst
// to one connection never holds more than this in the batch buffer.
const MaxBytes = 64 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// Conn wraps a net.Conn. Between Hold and Release, writes are appended to
// one buffer, taken from a pool only for the batch, and reach the socket
// in a single write. Outside a batch, writes pass straight through.
type Conn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte
	err     error
}

// Hold starts a batch.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// Release writes what the batch buffered, ends the batch, and returns the
// first error seen in it.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	err := c.flushLocked()
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		pool.Put(c.buf)
		c.buf = nil
	}
	if c.err != nil {
		err, c.err = c.err, nil
	}
	return err
}

func (c *Conn) flushLocked() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// Write implements net.Conn. Inside a batch an error is reported by
// Release; gorilla/websocket would otherwise treat it as fatal mid-batch
// just the same.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.holding {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = pool.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) > MaxBytes {
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
