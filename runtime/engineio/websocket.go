package engineio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/netbatch"
	"github.com/fleetwire/fleetwire/runtime/netready"
)

// closeFrameWait bounds the WebSocket close frame sent after the close
// packet; the connection is closed closeLinger after either way.
const closeFrameWait = time.Second

// wsReadBufferSize is the read buffer a WebSocket connection borrows while
// it reads. Client packets are small, and a larger message is read through
// it all the same. gorilla/websocket adopts a hijacked reader only if it is
// larger than 256 bytes.
const wsReadBufferSize = 512

// upgrade completes the WebSocket handshake. park waits, without reading,
// until the connection has a frame to read (see readLoop).
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request) (c *websocket.Conn, park parker, ok bool) {
	hw := &hijackReader{ResponseWriter: w, bufs: &srv.readBufs}
	c, err := srv.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		// The upgrader has already answered with an HTTP error.
		srv.log.V(1).Info("websocket upgrade failed", "error", err.Error())
		return nil, parker{}, false
	}
	c.SetReadLimit(int64(srv.cfg.MaxPayload))
	park = hw.park
	park.GiveBack() // gorilla has read nothing yet
	return c, park, true
}

// hijackReader hands gorilla/websocket a read buffer of the server's own
// when it hijacks the request, and gorilla adopts it as the connection's
// reader (the upgrader's ReadBufferSize is 0 for that). Owning it lets the
// reader see whether a frame is already buffered before it parks on the
// socket. The connection gorilla writes to is a netbatch.Conn, so that
// the writer sends a batch of frames in one write (writeBatch).
type hijackReader struct {
	http.ResponseWriter
	bufs *sync.Pool
	park parker
}

func (h *hijackReader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() > 0 {
		// gorilla refuses this case itself; keep the server's reader so
		// the bytes are not lost before it does.
		return c, brw, nil
	}
	h.park = parker{Lender: netready.Lender{BR: new(bufio.Reader), Src: c, Pool: h.bufs}, raw: netready.Of(c)}
	h.park.Borrow()
	return &netbatch.Conn{Conn: c}, bufio.NewReadWriter(h.park.BR, brw.Writer), nil
}

func (h *hijackReader) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// parker waits, without reading, until a connection has a frame to read,
// and lends the connection a read buffer only while it reads
// (netready.Lender, whose BR is the reader gorilla adopted at the
// upgrade). It is a value, not a closure, so that the reader goroutine
// holds it on its stack and an idle connection keeps nothing for it on
// the heap.
type parker struct {
	netready.Lender
	raw syscall.RawConn
}

// WebSocket framing (RFC 6455 section 5.2) of the one frame takePong
// reads itself: a client's unfragmented text frame, masked, whose 1-byte
// payload is the pong packet.
const (
	pongFrameLen = 2 + 4 + 1 // header, mask, payload
	opText       = 0x1
)

// takePong consumes a pong packet's frame at the head of the read buffer
// and reports whether it did. Anything else is left for gorilla/websocket
// to read and judge. The heartbeat's pong is then handled without a
// goroutine or an allocation. It runs only between messages, when gorilla
// holds no partial frame, so the two never disagree about where a frame
// starts; a frame not yet wholly buffered is left to gorilla too.
func (p *parker) takePong() bool {
	if p.BR == nil {
		return false
	}
	if _, err := p.BR.Peek(1); err != nil || p.BR.Buffered() < pongFrameLen {
		return false
	}
	f, _ := p.BR.Peek(pongFrameLen)
	fin, rsv, op := f[0]&0x80 != 0, f[0]&0x70, f[0]&0x0f
	masked, n := f[1]&0x80 != 0, f[1]&0x7f
	if !fin || rsv != 0 || op != opText || !masked || n != 1 || f[6]^f[2] != byte(packetPong) {
		return false
	}
	_, _ = p.BR.Discard(pongFrameLen)
	return true
}

// wait returns once a frame is buffered or the socket is readable. When
// the connection gives no way to wait without reading (br or raw is
// nil), it returns at once and the reader waits inside its read.
func (p *parker) wait() {
	if p.BR != nil && p.raw != nil && p.BR.Buffered() == 0 {
		netready.Wait(p.raw)
	}
}

// handshakeWebSocket opens a session directly over WebSocket: the first
// frame is the open packet. The reader starts only after OnConnection.
func (srv *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request) {
	s := srv.newSocket(r, onWebSocket)
	c, park, ok := srv.upgrade(w, r)
	if !ok {
		return
	}
	s.ws = c
	if !srv.register(s) {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(closeFrameWait))
		_ = c.Close()
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(srv.cfg.WriteTimeout))
	if err := c.WriteMessage(websocket.TextMessage, srv.openPacket(s, nil)); err != nil {
		s.finalize(ReasonTransportError)
		return
	}
	srv.connected(s)
	srv.track.add()
	go s.readLoop(c, park)
}

// serveUpgrade accepts the probe WebSocket of a polling session. The
// session keeps polling until the probe sends the upgrade packet.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Socket) {
	if !s.canUpgrade() {
		writeError(w, errBadRequest)
		return
	}
	c, park, ok := srv.upgrade(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if !s.canUpgradeLocked() {
		// Lost a race with another probe or with the session's end.
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	s.poll.probe = c
	s.poll.upgradeTimer = time.AfterFunc(srv.cfg.UpgradeTimeout, func() { s.dropProbe(c) })
	srv.track.add()
	s.mu.Unlock()
	go s.readLoop(c, park)
}

func (s *Socket) canUpgrade() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canUpgradeLocked()
}

func (s *Socket) canUpgradeLocked() bool {
	return s.state == stateOpen && s.transport == onPolling && s.poll != nil && s.poll.probe == nil
}

// readLoop is the one reader of a WebSocket connection, probe or active.
// It matters for memory, because an idle connection's largest cost is this
// goroutine's stack, and the Go runtime shrinks only mostly-unused stacks:
//   - between frames it parks in park, a few frames above the scheduler,
//     rather than deep inside gorilla/websocket's read path;
//   - each frame is read and handled on a short-lived goroutine, so the
//     handlers' work never grows the reader's stack.
//
// Frames are still handled one at a time, in order. A WebSocket ping from
// the client (Engine.IO clients send none; their heartbeat is a packet)
// is answered inside NextReader, which then waits there for the next
// frame.
func (s *Socket) readLoop(c *websocket.Conn, park parker) {
	defer s.srv.track.done()
	for {
		park.wait()
		park.Borrow()
		if !s.isProbe(c) && park.takePong() {
			s.onPong()
			park.GiveBack()
			continue
		}
		more := make(chan bool)
		go func() { more <- s.readFrame(c) }()
		if !<-more {
			park.Release()
			return
		}
		park.GiveBack()
	}
}

// readFrame reads one frame and acts on it, and reports whether to read on.
func (s *Socket) readFrame(c *websocket.Conn) bool {
	mt, data, err := s.srv.readMessage(c)
	if err != nil {
		s.onReadError(c, err)
		return false
	}
	return s.handleFrame(c, mt, data)
}

// readMessage reads the next data message. MaxPayload holds for the
// message as it is after decompression: gorilla/websocket bounds only the
// bytes on the wire, so a small permessage-deflate frame could otherwise
// inflate without bound. Past the bound the client gets a 1009 close, as
// gorilla/websocket writes for a frame over its own limit.
func (srv *Server) readMessage(c *websocket.Conn) (int, []byte, error) {
	mt, r, err := c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	limit := int64(srv.cfg.MaxPayload)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(data)) > limit {
		msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "message too big")
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(srv.cfg.WriteTimeout))
		return 0, nil, websocket.ErrReadLimit
	}
	return mt, data, nil
}

// handleFrame acts on one frame and reports whether to read on.
func (s *Socket) handleFrame(c *websocket.Conn, mt int, data []byte) bool {
	if s.isProbe(c) {
		return s.handleProbe(c, mt, data)
	}
	if mt == websocket.BinaryMessage {
		s.dispatch(data, true)
		return true
	}
	p, err := decodePacket(data)
	if err != nil {
		s.reject(ReasonParseError)
		return false
	}
	return s.handlePacket(p)
}

func (s *Socket) isProbe(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poll != nil && s.poll.probe == c
}

func (s *Socket) onReadError(c *websocket.Conn, err error) {
	s.mu.Lock()
	active := s.ws == c
	s.mu.Unlock()
	if !active {
		s.dropProbe(c)
		return
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		s.reject(ReasonTransportError)
		return
	}
	s.finalize(ReasonTransportClose)
	// A session the server ended keeps its connection for closeLinger;
	// the client has closed its side, so that is over now.
	_ = c.Close()
}

// handleProbe runs the upgrade handshake on a probe connection: "2probe"
// is answered with "3probe" and makes polling stop; "5" switches the
// session to this connection. Anything else drops the probe. It returns
// false when the connection is no longer in use.
func (s *Socket) handleProbe(c *websocket.Conn, mt int, data []byte) bool {
	switch {
	case mt == websocket.TextMessage && string(data) == "2probe":
		// Only this goroutine writes to a probe, so no writer lock is needed.
		_ = c.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		if err := c.WriteMessage(websocket.TextMessage, []byte("3probe")); err != nil {
			s.dropProbe(c)
			return false
		}
		s.mu.Lock()
		if s.poll.probe == c {
			s.poll.upgrading = true
			s.wakePollLocked()
		}
		s.mu.Unlock()
		return true
	case mt == websocket.TextMessage && string(data) == string(packetUpgrade):
		return s.completeUpgrade(c)
	default:
		s.dropProbe(c)
		return false
	}
}

// completeUpgrade makes c the session's transport. The queue is shared by
// both transports and a GET only takes from it while the transport is
// polling, so what was queued during the upgrade flows here, in order.
func (s *Socket) completeUpgrade(c *websocket.Conn) bool {
	s.mu.Lock()
	p := s.poll
	if p.probe != c || s.state == stateClosed {
		s.mu.Unlock()
		s.dropProbe(c)
		return false
	}
	if p.upgradeTimer != nil {
		p.upgradeTimer.Stop()
		p.upgradeTimer = nil
	}
	p.probe = nil
	p.upgrading = false
	s.transport = onWebSocket
	s.ws = c
	s.wakePollLocked() // a GET still pending answers noop
	s.startWriterLocked()
	s.mu.Unlock()
	s.srv.log.V(1).Info("session upgraded", "sid", s.id)
	return true
}

// dropProbe abandons an upgrade: the session stays on polling.
func (s *Socket) dropProbe(c *websocket.Conn) {
	s.mu.Lock()
	if p := s.poll; p != nil && p.probe == c {
		p.probe = nil
		p.upgrading = false
		if p.upgradeTimer != nil {
			p.upgradeTimer.Stop()
			p.upgradeTimer = nil
		}
	}
	s.mu.Unlock()
	_ = c.Close()
}

// startWriterLocked starts the WebSocket writer if something is queued and
// none runs. The writer exits when the queue is empty, so an idle session
// parks no goroutine.
func (s *Socket) startWriterLocked() {
	if s.wsWriting || len(s.queue) == 0 || s.ws == nil || s.state == stateClosed {
		return
	}
	s.wsWriting = true
	s.writers++
	s.srv.track.add()
	go s.writeLoop(s.ws)
}

// writeLoop writes what is queued, batch by batch, without taking the lock
// between the frames of a batch.
func (s *Socket) writeLoop(c *websocket.Conn) {
	defer s.srv.track.done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.state == stateClosed {
			s.stopWriterLocked()
			s.mu.Unlock()
			return
		}
		batch := s.takeLocked()
		s.mu.Unlock()

		closing, err := s.writeBatch(c, batch)
		if err != nil || closing {
			s.mu.Lock()
			s.stopWriterLocked()
			reason := s.reason
			s.mu.Unlock()
			if err != nil {
				s.srv.log.V(1).Info("websocket write failed", "sid", s.id, "error", err.Error())
				s.finalize(ReasonTransportError)
				return
			}
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(closeFrameWait))
			s.end(reason, closeLinger)
			return
		}
	}
}

func (s *Socket) stopWriterLocked() {
	s.wsWriting = false
	s.writerDoneLocked()
}

// writeBatch writes one frame per packet, all in one write to the socket
// when there are several (netbatch). closing reports that the close
// packet was written; nothing after it is. The packets' OnWritten run
// once the write succeeded; after a failed one, none is known to have
// been written.
func (s *Socket) writeBatch(c *websocket.Conn, batch []outPacket) (closing bool, err error) {
	nc, batched := c.NetConn().(*netbatch.Conn)
	batched = batched && len(batch) > 1
	if batched {
		nc.Hold()
	}
	written := 0
	if err = c.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout)); err == nil {
		for _, p := range batch {
			if err = writeFrame(c, p); err != nil {
				break
			}
			written++
			if p.typ == packetClose {
				closing = true // what follows it is never written
				break
			}
		}
	}
	if batched {
		if rerr := nc.Release(); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return false, err
	}
	for _, p := range batch[:written] {
		if p.onWritten != nil {
			p.onWritten()
		}
	}
	return closing, nil
}

// typeBytes holds each packet type's byte, for writes that would
// otherwise allocate it.
var typeBytes = []byte("0123456")

func writeFrame(c *websocket.Conn, p outPacket) error {
	if p.binary {
		return c.WriteMessage(websocket.BinaryMessage, p.data)
	}
	if p.frame != nil {
		return c.WritePreparedMessage(p.frame)
	}
	fw, err := c.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := fw.Write(typeBytes[p.typ-'0' : p.typ-'0'+1]); err != nil {
		return err
	}
	if _, err := fw.Write(p.data); err != nil {
		return err
	}
	return fw.Close()
}
