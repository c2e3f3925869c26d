package engineio

import (
	"io"
	"net/http"
	"strconv"
	"time"
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
	if s.pollActive {
		// Two GETs at once: the client is broken or hostile. The reference
		// server ends the session; the first GET gets the close packet.
		s.mu.Unlock()
		writeError(w, errBadRequest)
		s.finalize(ReasonTransportError)
		return
	}
	s.pollActive = true
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
	s.pollActive = false
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
// has something to answer. It returns false, with pollActive cleared, when
// the client went away first.
func (s *Socket) awaitPollLocked(r *http.Request) bool {
	for !s.pollReadyLocked() {
		wake := make(chan struct{})
		s.pollWake = wake
		s.mu.Unlock()
		select {
		case <-wake:
			s.mu.Lock()
		case <-r.Context().Done():
			s.mu.Lock()
			s.pollActive = false
			if s.pollWake == wake {
				s.pollWake = nil
			}
			return false
		}
	}
	return true
}

// pollingRequestErrorLocked rejects polling requests for a session that has
// ended or moved to WebSocket.
func (s *Socket) pollingRequestErrorLocked() (errorCode, bool) {
	if s.state == stateClosed {
		return errUnknownSID, false
	}
	if s.transport != TransportPolling {
		return errBadRequest, false
	}
	return 0, true
}

func (s *Socket) pollReadyLocked() bool {
	return s.state == stateClosed || s.transport != TransportPolling ||
		len(s.queue) > 0 || s.upgrading
}

func (s *Socket) wakePollLocked() {
	if s.pollWake != nil {
		close(s.pollWake)
		s.pollWake = nil
	}
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
	case s.transport != TransportPolling || len(s.queue) == 0:
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
	overlap := s.postActive
	s.postActive = true
	s.mu.Unlock()
	if overlap || r.Header.Get("Content-Type") == "application/octet-stream" {
		// v4 clients send binary as base64 text, never raw; and they never
		// send two POSTs at once.
		if !overlap {
			s.endPost()
		}
		writeError(w, errBadRequest)
		s.finalize(ReasonTransportError)
		return
	}
	defer s.endPost()

	max := s.srv.cfg.MaxPayload
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	switch {
	case err != nil:
		writeError(w, errBadRequest)
		s.finalize(ReasonTransportError)
		return
	case len(body) > max:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.finalize(ReasonTransportError)
		return
	}
	packets, err := decodePayload(body)
	if err != nil {
		writeError(w, errBadRequest)
		s.finalize(ReasonParseError)
		return
	}
	s.touch()
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
	s.postActive = false
	s.mu.Unlock()
}
