package transport

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Serve reads data frames until the connection ends, handing each to
// handle, one at a time and in order, then calls done once with why it
// ended. It returns at once; the reading runs on a goroutine that the
// connection owns and that ends with it.
//
// Between frames only that goroutine parks, in Wait; reading and handling
// a frame run on a short-lived goroutine. Both matter for memory: an idle
// connection's largest cost is the parked goroutine's stack, and a stack
// that once grew for JSON decoding would stay grown for the connection's
// life, because the Go runtime shrinks only mostly-unused stacks.
func (c *Conn) Serve(handle func([]byte), done func(error)) {
	go c.serve(handle, done)
}

func (c *Conn) serve(handle func([]byte), done func(error)) {
	var err error
	defer func() {
		c.lend.Release() // nothing reads any more
		done(err)
	}()
	for {
		c.Wait()
		// Made per frame so that an idle connection holds no channel.
		res := make(chan error)
		go c.readFrame(handle, res)
		if err = <-res; err != nil {
			return
		}
		if c.deaf.Load() {
			// Closed for abuse: read nothing more, and end once the
			// client has had the grace to read the close frame.
			c.WaitIdle(c.cfg.WriteTimeout)
			time.Sleep(c.cfg.CloseGrace)
			c.Abort()
			err = fmt.Errorf("closed for abuse: %w", ErrClosed)
			return
		}
	}
}

// readFrame reads one frame and handles it, then reports on res whether
// the connection ended.
func (c *Conn) readFrame(handle func([]byte), res chan<- error) {
	p, err := c.Read()
	if err != nil {
		if f := c.cfg.OnBadInput; f != nil && badInput(err) {
			f(c.RemoteAddr())
		}
		res <- endReason(err)
		return
	}
	handle(p)
	res <- nil
}

// badInput reports whether a read ended for what the client sent: a
// message over the limit, or a frame gorilla/websocket refused as a
// protocol error (it answers those with 1002 and returns a plain error),
// or a compressed message that does not inflate; not the client closing
// or the network failing.
func badInput(err error) bool {
	var corrupt flate.CorruptInputError
	if errors.Is(err, websocket.ErrReadLimit) || errors.As(err, &corrupt) {
		return true
	}
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, websocket.ErrCloseSent):
		return false
	}
	return strings.HasPrefix(err.Error(), "websocket: ")
}

// endReason turns gorilla's read error into what a session logs: the
// client's close code when it closed, the error otherwise.
func endReason(err error) error {
	if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
		return fmt.Errorf("client closed the connection with code %d: %w", ce.Code, ErrClosed)
	}
	return fmt.Errorf("while reading: %w", err)
}
