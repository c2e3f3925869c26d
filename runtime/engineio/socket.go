package engineio

import (
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// Message is one Engine.IO message for Socket.Send.
type Message struct {
	// Data is the payload. For text it is what follows the '4' type byte
	// (the server adds the '4'); for binary it is the raw bytes. The server
	// keeps a reference until the message is written: do not modify it.
	Data []byte
	// Binary sends Data as a binary message (a binary WebSocket frame, or
	// "b"+base64 over polling).
	Binary bool
	// Tag is returned by DropPending if the message was never written.
	Tag any
	// OnWritten runs once the message reached the socket (WebSocket frame
	// written, or polling GET response written). It must not block.
	OnWritten func()
	// OnDelivered runs once the client has answered a ping sent after the
	// message was written, which proves it read the message. It never runs
	// if the session ends first. It must not block.
	OnDelivered func()
	// Frame, when set, is the text message's WebSocket frame ('4' and
	// Data), prepared once for every session that sends the same message:
	// the WebSocket transport writes it instead of framing Data again, and
	// with permessage-deflate the message is compressed once, not once per
	// session. Polling still writes Data.
	Frame *websocket.PreparedMessage
}

type sessionState uint8

const (
	stateOpen    sessionState = iota
	stateClosing              // Close called: draining the queue, then the close packet
	stateClosed
)

// outPacket is a queued packet: a caller's message or a control packet
// (ping, pong, close) that the server adds itself.
type outPacket struct {
	typ         packetType
	data        []byte
	binary      bool
	tag         any
	onWritten   func()
	onDelivered func()
	frame       *websocket.PreparedMessage // Message.Frame
	size        int                        // bytes counted against MaxQueueBytes; 0 for control packets
}

// Socket is one Engine.IO session. Its methods are safe for concurrent use.
//
// Its fields are laid out for size: a server holds one per client for the
// client's whole life, so what only a polling session needs is in polling,
// and the small fields share words.
type Socket struct {
	srv        *Server
	id         string
	hs         *handshake // nil once forgotten
	remoteAddr string

	// dispatchMu serialises the OnMessage and OnClose handlers, so they run
	// one at a time and OnClose runs after the last message. It is never
	// taken while holding mu.
	dispatchMu sync.Mutex

	mu            sync.Mutex
	state         sessionState
	transport     transportKind
	hbPhase       heartbeatPhase
	closeNotified bool
	wsWriting     bool
	reportedBad   bool  // told Config.OnBadInput
	deaf          bool  // Deafen called: nothing more is read
	writers       int32 // writes in progress (WebSocket writer, polling response)
	pinged        int32 // see delivery.go
	queuedBytes   int
	reason        string // first close reason
	handler       Handler

	queue []outPacket
	idle  chan struct{} // closed when writers drops to 0; nil when nobody waits

	// The heartbeat is one entry of the server's scheduler (see
	// heartbeat.go): an idle session parks no goroutine and holds no timer.
	hb    *schedule.Entry
	hbDue int64 // unix nanoseconds the current phase ends at

	// Messages taken for writing and not yet confirmed (see delivery.go).
	unconfirmed []pending

	ws   *websocket.Conn // the active WebSocket connection
	poll *polling        // nil for a session opened over WebSocket
}

// transportKind is the session's current transport.
type transportKind uint8

const (
	onPolling transportKind = iota
	onWebSocket
)

func (k transportKind) String() string {
	if k == onWebSocket {
		return TransportWebSocket
	}
	return TransportPolling
}

// polling is what a session that started on long-polling needs besides.
type polling struct {
	// At most one GET and one POST at a time.
	getActive  bool
	postActive bool
	wake       chan struct{} // closed to wake the pending GET
	// closeTimer ends a closing session whose client never polls again.
	closeTimer *time.Timer

	// probe is an upgrade candidate; upgrading means it was answered, so
	// polling must not hold a GET.
	probe        *websocket.Conn
	upgrading    bool
	upgradeTimer *time.Timer
}

// ID returns the session id (the "sid").
func (s *Socket) ID() string { return s.id }

// Request returns the handshake request: its method, URL, host, the
// headers Config.KeepHeaders names and RemoteAddr. It is made anew on each
// call; its body is empty, its context is context.Background, and its
// headers are shared with the session, so they must not be changed.
func (s *Socket) Request() *http.Request {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		hs = &handshake{uri: "/"}
	}
	u, err := url.ParseRequestURI(hs.uri)
	if err != nil {
		u = &url.URL{} // cannot happen: uri came from a parsed request
	}
	header := hs.header
	if header == nil {
		header = http.Header{}
	}
	// A handshake is always a GET: the server refuses any other method.
	return &http.Request{Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: http.NoBody, Host: hs.host, RemoteAddr: s.remoteAddr, RequestURI: hs.uri}
}

// ForgetRequest drops what the session kept of its handshake request, for
// an owner that has read what it needs: a long-lived session then holds
// none of it. Request afterwards has only the method and RemoteAddr.
func (s *Socket) ForgetRequest() {
	s.mu.Lock()
	s.hs = nil
	s.mu.Unlock()
}

// handshake is what a session keeps of its handshake request. The
// method is not kept: it is a substring of the request line, and would
// keep the whole line.
type handshake struct {
	uri, host string
	header    http.Header
}

// RemoteAddr returns the handshake request's remote address.
func (s *Socket) RemoteAddr() string { return s.remoteAddr }

// Transport returns the current transport: "polling" or "websocket".
func (s *Socket) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport.String()
}

// Handler takes a session's messages and its end, in one value a program
// already holds per session: a server with many long-lived sessions then
// spends no allocation on their handlers. See Socket.Handle.
type Handler interface {
	// HandleMessage is called for each client message, in order, one at
	// a time, never after HandleClose.
	HandleMessage(data []byte, binary bool)
	// HandleClose is called exactly once when the session ends.
	HandleClose(reason string)
}

// funcHandler is the Handler that OnMessage and OnClose build.
type funcHandler struct {
	onMessage func(data []byte, binary bool)
	onClose   func(reason string)
}

func (f *funcHandler) HandleMessage(data []byte, binary bool) {
	if f.onMessage != nil {
		f.onMessage(data, binary)
	}
}

func (f *funcHandler) HandleClose(reason string) {
	if f.onClose != nil {
		f.onClose(reason)
	}
}

// Handle sets the session's Handler, replacing any set before (also by
// OnMessage and OnClose). If the session has already been reported
// closed, h.HandleClose runs at once.
func (s *Socket) Handle(h Handler) {
	s.mu.Lock()
	s.handler = h
	late, reason := s.closeNotified, s.reason
	s.mu.Unlock()
	if late && h != nil {
		h.HandleClose(reason)
	}
}

// funcsLocked returns the session's funcHandler, replacing a Handler set
// with Handle.
func (s *Socket) funcsLocked() *funcHandler {
	f, ok := s.handler.(*funcHandler)
	if !ok {
		f = &funcHandler{}
		s.handler = f
	}
	return f
}

// OnMessage sets the handler for client messages. Calls are made in order,
// one at a time, never after the OnClose handler.
func (s *Socket) OnMessage(h func(data []byte, binary bool)) {
	s.mu.Lock()
	s.funcsLocked().onMessage = h
	s.mu.Unlock()
}

// OnClose sets the handler called exactly once when the session ends. If
// the session has already been reported closed, h runs at once.
func (s *Socket) OnClose(h func(reason string)) {
	s.mu.Lock()
	s.funcsLocked().onClose = h
	late, reason := s.closeNotified, s.reason
	s.mu.Unlock()
	if late && h != nil {
		h(reason)
	}
}

// Send queues m. It never blocks on the network. It returns ErrQueueFull
// when the queued message bytes would exceed Config.MaxQueueBytes, and
// ErrClosed once Close or Abort was called or the session ended.
func (s *Socket) Send(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return ErrClosed
	}
	if s.queuedBytes+len(m.Data) > s.srv.cfg.MaxQueueBytes {
		return ErrQueueFull
	}
	s.enqueueLocked(outPacket{
		typ: packetMessage, data: m.Data, binary: m.Binary,
		tag: m.Tag, onWritten: m.OnWritten, onDelivered: m.OnDelivered, frame: m.Frame, size: len(m.Data),
	})
	return nil
}

// Close sends what is queued, then a close packet, then closes. The
// OnClose reason is "forced close". Idempotent.
func (s *Socket) Close() { s.closeGraceful(ReasonForcedClose) }

// Deafen makes the session read nothing more from its client, while what
// is queued for it is still written: the WebSocket reader stops at the
// next frame, and the packets of a polling POST are answered but not
// handled. It is for a client about to be closed for flooding, whose
// frames would cost as much to read as the flood. The session then ends
// as it would have: Close, a write that fails or times out, or the
// heartbeat.
func (s *Socket) Deafen() {
	s.mu.Lock()
	s.deaf = true
	s.mu.Unlock()
}

// Abort closes at once, dropping what is queued (see DropPending). The
// OnClose reason is "forced close". Idempotent.
func (s *Socket) Abort() { s.finalize(ReasonForcedClose) }

// Reject closes like Close, for something the client sent that breaks the
// protocol above Engine.IO, and reports the client to Config.OnBadInput.
func (s *Socket) Reject() {
	s.badInput()
	s.Close()
}

// reject ends the session at once, with reason, for what the client sent,
// and reports the client to Config.OnBadInput.
func (s *Socket) reject(reason string) {
	s.badInput()
	s.finalize(reason)
}

// badInput reports the session's client to Config.OnBadInput, once.
func (s *Socket) badInput() {
	f := s.srv.cfg.OnBadInput
	if f == nil {
		return
	}
	s.mu.Lock()
	first := !s.reportedBad
	s.reportedBad = true
	s.mu.Unlock()
	if first {
		f(s.remoteAddr)
	}
}

// Closed reports whether Close or Abort was called or the session ended.
func (s *Socket) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != stateOpen
}

// DropPending takes the tagged messages out of the queue and returns the
// tags of those the client is not known to have read, oldest first: taken
// for writing but not confirmed by a pong (see delivery.go), then never
// written. Messages without a tag (events a server sends once, such as a
// last word before a disconnect) and control packets (a pending close,
// ping or pong) stay queued.
func (s *Socket) DropPending() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	tags := s.unconfirmedTagsLocked()
	kept := s.queue[:0]
	s.queuedBytes = 0
	for _, p := range s.queue {
		if p.typ != packetMessage || p.tag == nil {
			kept = append(kept, p)
			s.queuedBytes += p.size
			continue
		}
		tags = append(tags, p.tag)
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	return tags
}

// QueuedBytes returns the message bytes queued and not yet taken by a writer.
func (s *Socket) QueuedBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queuedBytes
}

// WaitIdle waits up to d until no write is in progress, and reports whether
// that happened.
func (s *Socket) WaitIdle(d time.Duration) bool {
	s.mu.Lock()
	if s.writers == 0 {
		s.mu.Unlock()
		return true
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	ch := s.idle
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (s *Socket) writerDoneLocked() {
	s.writers--
	if s.writers == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// enqueueLocked appends p and starts whatever delivers it: the WebSocket
// writer, or the pending polling GET.
func (s *Socket) enqueueLocked(p outPacket) {
	s.queue = append(s.queue, p)
	s.queuedBytes += p.size
	if s.transport == onWebSocket {
		s.startWriterLocked()
	} else {
		s.wakePollLocked()
	}
}

// takeLocked removes and returns everything queued.
func (s *Socket) takeLocked() []outPacket {
	batch := s.queue
	s.queue = nil
	s.queuedBytes = 0
	s.trackLocked(batch)
	return batch
}

// closeGraceful queues the close packet behind what is queued; the writer
// that writes it ends the session. A polling client may never poll again,
// so closeTimer ends the session after WriteTimeout regardless.
func (s *Socket) closeGraceful(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return
	}
	s.state = stateClosing
	s.reason = reason
	s.stopHeartbeatLocked()
	if s.poll != nil && s.transport == onPolling {
		s.poll.closeTimer = time.AfterFunc(s.srv.cfg.WriteTimeout, func() { s.finalize(reason) })
	}
	if s.finalPingLocked() {
		return
	}
	s.enqueueLocked(outPacket{typ: packetClose})
}

// finalize ends the session at once: timers stop, connections close, a
// pending GET is answered, and OnClose is scheduled. The first reason wins.
func (s *Socket) finalize(reason string) { s.end(reason, 0) }

// closeLinger is how long a WebSocket connection stays open after the
// server's close packet and close frame were written. Closing a TCP
// connection with unread data in it sends a reset, and the client's kernel
// then drops what the client had not read yet: a client that was still
// sending, such as one closed for flooding, would lose the events before
// the close ("close_reason") and the close itself. The session's reader
// reads nothing more once the session has ended, so what the client sends
// meanwhile costs the node nothing but the socket's buffer.
const closeLinger = time.Second

// end ends the session as finalize does, and closes its WebSocket
// connection linger later.
func (s *Socket) end(reason string, linger time.Duration) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.reason == "" {
		s.reason = reason
	}
	s.state = stateClosed
	s.stopHeartbeatLocked()
	ws := s.ws
	probe := s.poll.stop()
	s.wakePollLocked()
	reason = s.reason
	s.mu.Unlock()

	s.srv.remove(s)
	// Closing the connections unblocks their reader and writer goroutines.
	switch {
	case ws != nil && linger > 0:
		time.AfterFunc(linger, func() { _ = ws.Close() })
	case ws != nil:
		_ = ws.Close()
	}
	if probe != nil {
		_ = probe.Close()
	}
	s.srv.log.V(1).Info("session closed", "sid", s.id, "reason", reason)
	// OnClose runs on its own goroutine: finalize is called from timers,
	// readers and from the caller's own Abort, possibly under the caller's
	// locks or inside OnMessage (which holds dispatchMu).
	go s.notifyClose()
}

// notifyClose calls OnClose once, after any OnMessage in progress, and
// releases the session's hold on Server.Shutdown.
func (s *Socket) notifyClose() {
	defer s.srv.track.done()
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	s.mu.Lock()
	h, reason := s.handler, s.reason
	s.closeNotified = true
	s.mu.Unlock()
	if h != nil {
		h.HandleClose(reason)
	}
}

// dispatch hands a client message to OnMessage.
func (s *Socket) dispatch(data []byte, binary bool) {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock()
	s.mu.Lock()
	h, closed := s.handler, s.state == stateClosed || s.deaf
	s.mu.Unlock()
	if h != nil && !closed {
		h.HandleMessage(data, binary)
	}
}

// handlePacket acts on one packet from the active transport. It returns
// false once the session is closed or deaf, so callers stop reading.
func (s *Socket) handlePacket(p packet) bool {
	switch p.typ {
	case packetMessage:
		s.dispatch(p.data, p.binary)
	case packetPong:
		s.onPong()
	case packetPing:
		// v4 heartbeats go server to client; answering a client ping anyway
		// costs nothing and keeps older clients alive.
		s.mu.Lock()
		if s.state == stateOpen {
			s.enqueueLocked(outPacket{typ: packetPong, data: p.data})
		}
		s.mu.Unlock()
	case packetClose:
		s.confirmOnClientClose()
		s.finalize(ReasonTransportClose)
	default:
		// open, upgrade and noop mean nothing on an established transport.
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != stateClosed && !s.deaf
}
