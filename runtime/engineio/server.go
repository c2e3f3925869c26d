package engineio

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// Server is an Engine.IO v4 server. Mount it on an HTTP mux at Config.Path.
type Server struct {
	cfg      Config
	log      logr.Logger
	upgrader websocket.Upgrader
	// readBufs lends WebSocket connections their read buffers while they
	// read (see parker): *bufio.Reader of wsReadBufferSize.
	readBufs sync.Pool
	track    tracker // open sessions and the goroutines they started
	// sched runs the sessions' heartbeats. Without Config.Scheduler the
	// server starts its own with the first session (ownSched), so that a
	// server that never served one holds no goroutine, and Shutdown stops
	// it. It is set under mu, before any session can read it.
	sched    *schedule.Scheduler
	ownSched bool

	// One mutex suffices: it guards only map operations, a few per session
	// lifetime plus one lookup per request, never I/O.
	mu sync.Mutex
	// sessions holds the sessions opened over polling, by id: their
	// requests and upgrade probes find them there. A session opened over
	// WebSocket is never looked up, so it sits in direct, a set that costs
	// it far less than an entry keyed by its id.
	sessions map[string]*Socket
	direct   map[*Socket]struct{}
	closing  bool
}

// NewServer returns a Server for cfg with defaults applied.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	checkOrigin := cfg.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = func(*http.Request) bool { return true }
	}
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		sched:    cfg.Scheduler,
		ownSched: cfg.Scheduler == nil,
		upgrader: websocket.Upgrader{
			// Both buffers would otherwise be the HTTP server's 4 KiB ones,
			// kept for the connection's life. Frames are read through a
			// small buffer of the server's own, lent from readBufs only
			// while reading (see hijackReader and parker; a zero
			// ReadBufferSize makes gorilla adopt it), and written through
			// buffers taken from a pool only while writing, so an idle
			// connection holds neither.
			WriteBufferPool:   &sync.Pool{},
			EnableCompression: cfg.EnableCompression,
			CheckOrigin:       checkOrigin,
			// Answer upgrade failures in the reference server's JSON form.
			Error: func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
				if status == http.StatusForbidden {
					writeError(w, errForbidden)
					return
				}
				writeError(w, errBadRequest)
			},
		},
		readBufs: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, wsReadBufferSize) }},
		sessions: make(map[string]*Socket),
		direct:   make(map[*Socket]struct{}),
	}, nil
}

// Count returns the number of open sessions.
func (srv *Server) Count() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions) + len(srv.direct)
}

// ServeHTTP routes an Engine.IO request: a handshake (no sid), a polling
// GET or POST, or a WebSocket (direct, or the probe of an upgrade).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") != strings.TrimSuffix(srv.cfg.Path, "/") {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, errUnsupportedProtocolVersion)
		return
	}
	transport := q.Get("transport")
	if !srv.cfg.allows(transport) {
		writeError(w, errUnknownTransport)
		return
	}
	if (transport == TransportWebSocket) != websocket.IsWebSocketUpgrade(r) {
		writeError(w, errBadRequest)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		srv.handshake(w, r, transport)
		return
	}
	s := srv.lookup(sid)
	switch {
	case s == nil:
		writeError(w, errUnknownSID)
	case transport == TransportWebSocket:
		srv.serveUpgrade(w, r, s)
	case r.Method == http.MethodGet:
		s.servePoll(w, r)
	case r.Method == http.MethodPost:
		s.servePost(w, r)
	default:
		writeError(w, errBadRequest)
	}
}

func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	if r.Method != http.MethodGet {
		writeError(w, errBadHandshakeMethod)
		return
	}
	if srv.isClosing() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if srv.cfg.Authorize != nil && !srv.cfg.Authorize(w, r) {
		return
	}
	if transport == TransportWebSocket {
		srv.handshakeWebSocket(w, r)
		return
	}
	srv.handshakePolling(w, r)
}

// handshakePolling answers the first GET with the open packet alone;
// anything OnConnection sends waits for the next GET.
func (srv *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	s := srv.newSocket(r, onPolling)
	if !srv.register(s) {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	var upgrades []string
	if srv.cfg.allows(TransportWebSocket) {
		upgrades = []string{TransportWebSocket}
	}
	srv.connected(s)
	if err := s.writePollResponse(w, srv.openPacket(s, upgrades)); err != nil {
		s.finalize(ReasonTransportError)
	}
}

func (srv *Server) newSocket(r *http.Request, transport transportKind) *Socket {
	// The session outlives the request, and keeps only what its owner
	// reads of the handshake (see Socket.Request), so that an idle session
	// holds no more of it.
	hs := &handshake{uri: r.URL.RequestURI(), host: r.Host, header: srv.keptHeaders(r.Header)}
	s := &Socket{srv: srv, hs: hs, remoteAddr: r.RemoteAddr, transport: transport}
	if transport == onPolling {
		s.poll = &polling{}
	}
	return s
}

// keptHeaders copies the headers named in Config.KeepHeaders, or all of
// them when it is nil.
func (srv *Server) keptHeaders(h http.Header) http.Header {
	if srv.cfg.KeepHeaders == nil {
		return h.Clone()
	}
	kept := make(http.Header, len(srv.cfg.KeepHeaders))
	for _, name := range srv.cfg.KeepHeaders {
		if v := h.Values(name); len(v) > 0 {
			kept[http.CanonicalHeaderKey(name)] = slices.Clone(v)
		}
	}
	return kept
}

// register gives s a fresh id and adds it to the sessions; false when the
// server is shutting down.
func (srv *Server) register(s *Socket) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing {
		return false
	}
	for {
		s.id = newSessionID()
		if _, taken := srv.sessions[s.id]; !taken {
			break
		}
	}
	if s.poll != nil {
		srv.sessions[s.id] = s
	} else {
		srv.direct[s] = struct{}{}
	}
	if srv.sched == nil {
		srv.sched = schedule.New()
	}
	srv.track.add() // released by notifyClose
	return true
}

// connected runs OnConnection and starts the heartbeat. It runs before the
// session's first packet is read, so handlers set in OnConnection see all.
func (srv *Server) connected(s *Socket) {
	srv.log.V(1).Info("session opened", "sid", s.id, "remote", s.remoteAddr)
	if srv.cfg.OnConnection != nil {
		srv.cfg.OnConnection(s)
	}
	s.mu.Lock()
	if s.state == stateOpen {
		s.schedulePingLocked()
	}
	s.mu.Unlock()
}

func (srv *Server) remove(s *Socket) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	delete(srv.direct, s)
	srv.mu.Unlock()
}

func (srv *Server) lookup(sid string) *Socket {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[sid]
}

func (srv *Server) isClosing() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closing
}

func (srv *Server) snapshot() []*Socket {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*Socket, 0, len(srv.sessions)+len(srv.direct))
	for _, s := range srv.sessions {
		out = append(out, s)
	}
	for s := range srv.direct {
		out = append(out, s)
	}
	return out
}

// Shutdown refuses new sessions, closes every session (queued messages,
// then a close packet; reason "server shutting down") and waits for their
// goroutines and OnClose handlers. When ctx ends first, the remaining
// sessions are aborted and ctx's error is returned.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	srv.mu.Unlock()
	for _, s := range srv.snapshot() {
		s.closeGraceful(ReasonServerShutdown)
	}
	err := srv.track.wait(ctx)
	if err != nil {
		for _, s := range srv.snapshot() {
			s.finalize(ReasonServerShutdown)
		}
		err = fmt.Errorf("engineio: shutdown: %w", err)
	}
	srv.mu.Lock()
	sched := srv.sched
	srv.mu.Unlock()
	if srv.ownSched && sched != nil {
		sched.Close()
	}
	return err
}

// handshakeData is the open packet's JSON payload; durations in ms.
type handshakeData struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func (srv *Server) openPacket(s *Socket, upgrades []string) []byte {
	if upgrades == nil {
		upgrades = []string{}
	}
	b, _ := json.Marshal(handshakeData{
		SID:          s.id,
		Upgrades:     upgrades,
		PingInterval: srv.cfg.PingInterval.Milliseconds(),
		PingTimeout:  srv.cfg.PingTimeout.Milliseconds(),
		MaxPayload:   srv.cfg.MaxPayload,
	})
	return append([]byte{byte(packetOpen)}, b...)
}

// newSessionID returns 20 URL-safe characters from 120 random bits.
func newSessionID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tracker counts what Shutdown waits for. Unlike sync.WaitGroup it allows
// add after a wait started, which happens when a timer or request starts a
// goroutine for a session that is still closing.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
	t.mu.Unlock()
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{})
	}
	ch := t.zero
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
