package engineio

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// servePoll answers a long-polling GET: it waits, inside this request's
// goroutine, until something is queued, the session ends, or an upgrade
// needs the client to stop polling. A session with no GET open holds no
// goroutine.
func (s *Socket) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if code, ok := s.pollingRequestErrorLocked(); !ok {
		s.mu.Unlock()
		writeError(w, code)
		return
	}
	if s.poll.getActive {
		// Two GETs at once: the client is broken or hostile. The reference
		// server ends the session; the first GET gets the close packet.
		s.mu.Unlock()
		s.overlapping(w)
		return
	}
	s.poll.getActive = true
	if !s.awaitPollLocked(r) {
		s.mu.Unlock()
		// The client gave up on the poll: as the reference server does,
		// treat it as a dead transport.
		s.finalize(ReasonTransportError)
		return
	}
	body, batch, closing := s.takePollLocked()
	// Cleared before writing: once the client has the response it may poll
	// again at once, and that GET must not look like an overlap.
	s.poll.getActive = false
	s.writers++
	s.mu.Unlock()

	err := s.writePollResponse(w, body)
	if err == nil {
		runWritten(batch)
	}
	s.mu.Lock()
	s.writerDoneLocked()
	reason := s.reason
	s.mu.Unlock()
	switch {
	case err != nil:
		s.srv.log.V(1).Info("polling write failed", "sid", s.id, "error", err.Error())
		s.finalize(ReasonTransportError)
	case closing:
		s.finalize(reason)
	}
}

// awaitPollLocked waits, releasing s.mu meanwhile, until the pending GET
// has something to answer. It returns false, with getActive cleared, when
// the client went away first.
func (s *Socket) awaitPollLocked(r *http.Request) bool {
	for !s.pollReadyLocked() {
		wake := make(chan struct{})
		s.poll.wake = wake
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
		case <-r.Context().Done():
			s.mu.Lock()
			s.poll.getActive = false
			if s.poll.wake == wake {
				s.poll.wake = nil
			}
			return false
		}
	}
	return true
}

// pollingRequestErrorLocked rejects polling requests for a session that has
// ended or moved to WebSocket, or that never polled.
func (s *Socket) pollingRequestErrorLocked() (errorCode, bool) {
	if s.state == stateClosed {
		return errUnknownSID, false
	}
	if s.poll == nil || s.transport != onPolling {
		return errBadRequest, false
	}
	return 0, true
}

func (s *Socket) pollReadyLocked() bool {
	return s.state == stateClosed || s.transport != onPolling ||
		len(s.queue) > 0 || s.poll.upgrading
}

// wakePollLocked answers the pending GET, if there is one.
func (s *Socket) wakePollLocked() {
	if s.poll != nil && s.poll.wake != nil {
		close(s.poll.wake)
		s.poll.wake = nil
	}
}

// stop stops the polling timers of a session that ends, and returns the
// probe connection to close, if any. p may be nil.
func (p *polling) stop() *websocket.Conn {
	if p == nil {
		return nil
	}
	for _, t := range []*time.Timer{p.closeTimer, p.upgradeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	probe := p.probe
	p.probe = nil
	return probe
}

// takePollLocked builds the GET response. closing reports that it carries
// the close packet, after which the session ends.
func (s *Socket) takePollLocked() (body []byte, batch []outPacket, closing bool) {
	switch {
	case s.state == stateClosed:
		// A client that sent the close packet gets a noop, as from the
		// reference server; any other end gets the close packet.
		if s.reason == ReasonTransportClose {
			return []byte{byte(packetNoop)}, nil, false
		}
		return []byte{byte(packetClose)}, nil, false
	case s.transport != onPolling || len(s.queue) == 0:
		// Upgraded, or upgrading: the noop lets the client pause polling.
		return []byte{byte(packetNoop)}, nil, false
	}
	batch = s.takeLocked()
	for i, p := range batch {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		body = appendPolling(body, p.typ, p.data, p.binary)
		closing = closing || p.typ == packetClose
	}
	return body, batch, closing
}

// writePollResponse writes a polling payload with a deadline. The deadline
// is cleared afterwards because net/http keeps it for the next request on
// the same keep-alive connection.
func (s *Socket) writePollResponse(w http.ResponseWriter, body []byte) error {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return err
	}
	return rc.Flush()
}

func runWritten(batch []outPacket) {
	for _, p := range batch {
		if p.onWritten != nil {
			p.onWritten()
		}
	}
}

// servePost reads a polling payload from the client and acts on each
// packet in order before answering "ok".
func (s *Socket) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if code, ok := s.pollingRequestErrorLocked(); !ok {
		s.mu.Unlock()
		writeError(w, code)
		return
	}
	overlap := s.poll.postActive
	s.poll.postActive = true
	s.mu.Unlock()
	if overlap {
		// v4 clients never send two POSTs at once.
		s.overlapping(w)
		return
	}
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		// v4 clients send binary as base64 text, never raw.
		s.endPost()
		s.refuse(w, http.StatusBadRequest, ReasonTransportError)
		return
	}
	defer s.endPost()

	max := s.srv.cfg.MaxPayload
	if r.ContentLength > int64(max) {
		// Refused unread: reading a body only to refuse it would cost as
		// much as the body.
		s.refuse(w, http.StatusRequestEntityTooLarge, ReasonTransportError)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	switch {
	case err != nil:
		writeError(w, errBadRequest)
		s.finalize(ReasonTransportError)
		return
	case len(body) > max:
		s.refuse(w, http.StatusRequestEntityTooLarge, ReasonTransportError)
		return
	}
	packets, err := decodePayload(body)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, ReasonParseError)
		return
	}
	for _, p := range packets {
		if !s.handlePacket(p) {
			break
		}
	}
	h := w.Header()
	// text/html rather than text/plain: some user agents offer a download
	// dialog for text/plain (reference server, GH-43).
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

func (s *Socket) endPost() {
	s.mu.Lock()
	s.poll.postActive = false
	s.mu.Unlock()
}

// refuse answers a request that breaks the protocol or its limits, with
// status 400 (the reference server's "Bad request" body) or a bare 413,
// and ends the session for reason (see reject). The answer also ends the
// request's connection, so that the client's next request opens another,
// which the node may refuse as it accepts it when the client keeps
// sending such requests.
func (s *Socket) refuse(w http.ResponseWriter, status int, reason string) {
	answerRefusal(w, status)
	s.reject(reason)
}

// overlapping answers a poll that overlaps another of the same kind, as
// refuse does, but without reporting the client (Config.OnBadInput): a
// client whose earlier request a network fault cut off can send the next
// before the server has seen the earlier one end.
func (s *Socket) overlapping(w http.ResponseWriter) {
	answerRefusal(w, http.StatusBadRequest)
	s.finalize(ReasonTransportError)
}

// answerRefusal writes refuse's answer.
func answerRefusal(w http.ResponseWriter, status int) {
	w.Header().Set("Connection", "close")
	if status == http.StatusRequestEntityTooLarge {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	} else {
		writeError(w, errBadRequest)
	}
}
